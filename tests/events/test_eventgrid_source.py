"""The real app with DRIFTLINE_BLOB_SOURCE=EventGrid (what Flex Consumption requires), under devhost
as a separate process: uploads are not polled; the BlobCreated event on the blob extension's
webhook fires the lake trigger, once per blob version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.azurite import free_port
from shared.chain import runs
from shared.events import lake
from shared.platform import names
from tests.helpers.event_data import csv_bytes, frame

ROOT = Path(__file__).resolve().parents[2]
KEEP = ("on_labeled", "on_incoming")
EVERY_FUNCTION = (
    "hooks_github", "hooks_azure_devops", "on_push", "timer_drift", "timer_retrain", "timer_sweep",
    "timer_cleanup", "retrain", "register", "test", "deploy", "notify", "approve_run", "reject_run",
    "rollback_model", "score", "feedback", "model_overview", "model_lineage", "run_timeline",
)


@pytest.fixture
def grid_host(tmp_path: Path, connection_string: str, model_name: str):
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    values.update({
        "AzureWebJobsStorage": connection_string,
        "DRIFTLINE_MODEL_NAME": model_name,
        "DRIFTLINE_BLOB_SOURCE": "EventGrid",
        "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0",
        # only the lake triggers: the rest would consume queues other tests share in this Azurite
        **{f"AzureWebJobs.{name}.Disabled": "true" for name in EVERY_FUNCTION},
    })
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLINE_", "AzureWebJobs"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", str(port), "--settings", str(settings),
         "--blob-poll-interval", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/admin/host/status", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"devhost did not start:\n{process.stdout.read()}")
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)


def blob_created(name: str) -> list[dict]:
    return [{
        "id": name,
        "eventType": "Microsoft.Storage.BlobCreated",
        "subject": f"/blobServices/default/containers/{names.DATALAKE}/blobs/{name}",
        "data": {"api": "PutBlob", "url": f"http://127.0.0.1/devstoreaccount1/{names.DATALAKE}/{name}"},
        "dataVersion": "",
        "eventTime": "2026-01-01T00:00:00Z",
    }]


def wait_for_receipt(storage, name: str, etag: str, timeout: float = 30.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = lake.read_receipt(storage, name, etag)
        if outcome is not None:
            return outcome
        time.sleep(0.2)
    return None


def test_labeled_upload_fires_from_the_eventgrid_webhook_only(grid_host, azure_storage, unique):
    storage = azure_storage
    name = f"labeled/{unique}/grid.csv"
    etag = storage.put_bytes(names.DATALAKE, name, csv_bytes(frame(50, seed=3))).strip('"')
    assert wait_for_receipt(storage, name, etag, timeout=2.0) is None  # not polled

    webhook = f"{grid_host}/runtime/webhooks/blobs?functionName=Host.Functions.on_labeled"
    response = requests.post(webhook, json=blob_created(name), headers={"aeg-event-type": "Notification"}, timeout=10)
    assert response.status_code == 202
    outcome = wait_for_receipt(storage, name, etag)
    assert outcome is not None and outcome["action"] == "retrain"
    run = runs.get_run(storage, outcome["run_id"])
    assert run["trigger"] == {"kind": "upload", "blob": name, "etag": etag}

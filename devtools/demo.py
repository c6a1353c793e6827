"""The end-to-end demo, driven from outside the running app (devhost or `func start`) over its
public surfaces only: blob uploads to the lake, the HTTP API, and the run records in storage.

1. upload labeled training data -> retrain, register, test, deploy: version N in production
2. score a few records through POST /api/score
3. upload a production batch like the training data -> drift report, no drift
4. upload a drifted batch -> drift report, a retrain starts by itself -> version N+1 deployed
5. upload a malformed file -> quarantined with a reason, original untouched
6. show the lineage of what is serving now: run, commit, data, trigger
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import requests

from devtools.azurite import ROOT
from shared.chain import runs
from shared.chain.states import FINAL_RUN
from shared.events import lake
from shared.platform import names
from shared.platform.context import settings as app_settings
from shared.platform.context import storage as app_storage
from shared.platform.storage import Storage

SAMPLES = ROOT / "sample_data"
TIMEOUT = 300


def say(text: str) -> None:
    print(f"\033[1m[demo]\033[0m {text}", flush=True)


def upload(storage: Storage, local: Path, name: str) -> str:
    etag = storage.put_bytes(names.DATALAKE, name, local.read_bytes())
    say(f"uploaded {local.relative_to(ROOT)} -> {names.DATALAKE}/{name}")
    return etag.strip('"')


def wait_for_receipt(storage: Storage, name: str, etag: str) -> dict[str, Any]:
    """The lake trigger's record of what it did with this upload."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        outcome = lake.read_receipt(storage, name, etag)
        if outcome is not None:
            return outcome
        time.sleep(0.5)
    raise SystemExit(f"the app did not pick up {name} within {TIMEOUT} s; see the app's log")


def follow_run(storage: Storage, run_id: str) -> dict[str, Any]:
    """Print the run's events as they happen until it ends (or waits for a person)."""
    seen = 0
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        run = runs.get_run(storage, run_id)
        if run is not None:
            for event in run["events"][seen:]:
                step = event["step"] or "run"
                say(f"  {run_id[:8]} {step:<9} {event['status']:<10} {event['detail']}")
            seen = len(run["events"])
            if run["status"] in FINAL_RUN or run["status"] == "waiting":
                return run
        time.sleep(0.5)
    raise SystemExit(f"run {run_id} did not finish within {TIMEOUT} s")


def score(base: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = requests.post(f"{base}/api/score", json={"records": records}, timeout=30)
    response.raise_for_status()
    return response.json()


def sample_records(count: int) -> list[dict[str, Any]]:
    with open(SAMPLES / "incoming" / "batch-ok.csv", newline="") as handle:
        rows = [row for _, row in zip(range(count), csv.DictReader(handle))]
    return [{key: _number_or_text(value) for key, value in row.items()} for row in rows]


def _number_or_text(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def deploy_from_upload(storage: Storage, local: Path, name: str) -> dict[str, Any]:
    etag = upload(storage, local, name)
    receipt = wait_for_receipt(storage, name, etag)
    say(f"lake trigger: {receipt['action']} ({receipt['detail']})")
    if not receipt.get("run_id"):
        return receipt
    run = follow_run(storage, receipt["run_id"])
    if run["status"] != "succeeded":
        raise SystemExit(f"run {run['run_id']} ended {run['status']}: {run['events'][-1]['detail']}")
    return {**receipt, "run": run}


def run_demo(base: str) -> None:
    storage, model = app_storage(), app_settings().model_name
    stamp = time.strftime("%Y%m%dT%H%M%S")

    say("step 1/6: new labeled training data lands in the lake")
    deploy_from_upload(storage, SAMPLES / "labeled" / "customers.csv", f"labeled/demo-{stamp}/customers.csv")
    overview = requests.get(f"{base}/api/models/{model}", timeout=30).json()
    first = overview["aliases"]["production"]["version"]
    say(f"{model} version {first} is in production")

    say("step 2/6: the app scores requests with the production model")
    answer = score(base, sample_records(3))
    say(f"POST /api/score -> version {answer['version']}, predictions {answer['predictions']}")

    say("step 3/6: a production batch like the training data arrives")
    etag = upload(storage, SAMPLES / "incoming" / "batch-ok.csv", f"incoming/demo-{stamp}/batch-ok.csv")
    receipt = wait_for_receipt(storage, f"incoming/demo-{stamp}/batch-ok.csv", etag)
    say(f"drift check: {receipt['action']} ({receipt['detail']}); report reports/{receipt.get('report')}.html")

    say("step 4/6: a drifted production batch arrives; drift past the threshold retrains by itself")
    drifted = deploy_from_upload(storage, SAMPLES / "incoming" / "batch-drifted.csv",
                                 f"incoming/demo-{stamp}/batch-drifted.csv")
    if drifted["action"] != "drift":
        raise SystemExit(f"expected the drifted batch to start a retrain, but the lake trigger said "
                         f"{drifted['action']}: {drifted['detail']}")
    say(f"drift report: reports/{drifted['report']}.html")
    overview = requests.get(f"{base}/api/models/{model}", timeout=30).json()
    second = overview["aliases"]["production"]["version"]
    say(f"{model} version {second} is in production (previous: {overview['aliases']['previous']['version']})")

    say("step 5/6: a malformed file arrives")
    name = f"incoming/demo-{stamp}/malformed.csv"
    receipt = wait_for_receipt(storage, name, upload(storage, SAMPLES / "incoming" / "malformed.csv", name))
    say(f"lake trigger: {receipt['action']} ({receipt['detail']})")

    say("step 6/6: the lineage of what is serving now")
    lineage = requests.get(f"{base}/api/models/{model}/lineage", timeout=30).json()
    summary = {key: lineage.get(key) for key in ("model", "version", "run_id", "run", "trigger", "reason", "code", "metrics")}
    summary["data"] = {key: value for key, value in (lineage.get("data") or {}).items() if key != "blobs"}
    print(json.dumps(summary, indent=2), flush=True)
    say(f"done: version {first} -> version {second}, retrained on drift; open the reports in the "
        f"'{names.REPORTS}' container (Azure Storage Explorer -> Local emulator)")

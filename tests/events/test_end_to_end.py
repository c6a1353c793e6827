"""Event sources end to end: the real function app on the local runner (devhost) against its own
Azurite, driven over HTTP and blob uploads as GitHub, Azure DevOps and the lake would drive it.

The whole app runs, chain included: a push of training code or a drifted upload trains a real model
from the labeled data in the lake and carries it through register, test and deploy.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shared.chain import runs
from shared.chain.states import FINAL_RUN
from shared.events import intake, lake, quarantine
from shared.platform import names, signatures
from shared.platform.azure_storage import AzureStorage, connect
from shared.platform.settings import StorageConnection
from tests.helpers.app_host import app_on_devhost
from tests.helpers.event_data import FEATURES, GITHUB_SECRET, TARGET, body, csv_bytes, frame, github_commit, github_push
from tests.helpers.events import runs_of



@pytest.fixture(scope="module")
def lake_storage(module_azurite) -> tuple[str, AzureStorage]:
    """A fresh Azurite for this module, so the runner sees no other test's blobs or messages."""
    connection = module_azurite.endpoints.connection_string
    return connection, connect(StorageConnection(connection_string=connection))


@pytest.fixture(scope="module")
def running_app(lake_storage, tmp_path_factory) -> Iterator[tuple[Any, int | None]]:
    """The app on devhost, once the seed file's run is done; with the production version it made
    (taken then, so the tests may run in any order)."""
    from shared.model import registry

    connection, storage = lake_storage
    storage.put_bytes(names.DATALAKE, "labeled/base/train.csv", csv_bytes(frame(600, seed=1)))
    settings = {
        "AzureWebJobsStorage": connection,
        "DRIFTLINE_MODEL_NAME": "e2e-model",
        "DRIFTLINE_TARGET_COLUMN": TARGET,
        "DRIFTLINE_GITHUB_SECRET": GITHUB_SECRET,
        "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0",
        "DRIFTLINE_WAIT_FOR_CI": "false",
        "DRIFTLINE_APPROVAL_REQUIRED": "false",
        "DRIFTLINE_CANARY_PERCENT": "0",
        "DRIFTLINE_QUALITY_TOLERANCE": "1",
        "DRIFTLINE_LATENCY_BUDGET_MS": "60000",  # gates are not under test here
        "DRIFTLINE_SCHEDULED_DRIFT": "true",  # fired by hand below, not by its schedule
        "DRIFTLINE_SCORING_LOG_FLUSH_SECONDS": "0.2",
    }
    with app_on_devhost(tmp_path_factory.mktemp("host"), settings, "e2e") as running:
        running.wait_idle(120)  # the seed file's retrain runs through the chain to production
        yield running, registry.resolve(storage, "e2e-model", "production")


@pytest.fixture(scope="module")
def host(running_app):
    return running_app[0]


@pytest.fixture(scope="module")
def storage_(lake_storage) -> AzureStorage:
    return lake_storage[1]


def post_push(host, payload: dict, *, delivery: str | None = None, secret: str = GITHUB_SECRET) -> requests.Response:
    raw = body(payload)
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": signatures.sign(secret, raw), "Content-Type": "application/json"}
    return requests.post(f"{host.url}/api/hooks/github", data=raw, headers=headers, timeout=30)


def push_run(storage, delivery: str) -> dict | None:
    record = storage.read_json(names.HOOKS, intake.record_name("github", delivery))
    return None if record is None else runs.get_run(storage, record.value["run_id"])


def test_seed_upload_trained_the_production_model(running_app):
    _, seeded_production = running_app
    assert seeded_production == 1


def test_a_training_push_without_a_code_source_runs_none_of_its_code(host, storage_):
    """This app has no DRIFTLINE_CODE_SOURCE: a push is routed and its run starts, but a commit that
    cannot be fetched runs nothing (tests/chain/test_commit_exact.py runs pushes with a code source)."""
    delivery = str(uuid.uuid4())
    response = post_push(host, github_push([github_commit(1, modified=["training/features.py"])]), delivery=delivery)
    assert response.status_code == 202
    host.wait_idle(120)
    run = push_run(storage_, delivery)
    assert run["plan"] == "training" and run["status"] == "skipped"
    assert "no code source is configured" in run["steps"]["fetch"]["detail"] and run["steps"]["retrain"]["detail"] == "not run: the run skipped at fetch"


def test_app_push_runs_once_and_its_replay_nothing(host, storage_):
    delivery = str(uuid.uuid4())
    payload = github_push([github_commit(2, modified=["functions/api.py"])])
    assert post_push(host, payload, delivery=delivery).status_code == 202
    host.wait_idle(120)
    run = push_run(storage_, delivery)
    assert run["plan"] == "app" and run["status"] == "skipped" and run["steps"]["test"]["detail"] == "not run: the run skipped at fetch"
    before = len(runs_of(storage_, "e2e-model"))
    again = post_push(host, payload, delivery=delivery)
    assert again.status_code == 200 and again.json()["status"] == "duplicate delivery"
    host.wait_idle(120)
    assert len(runs_of(storage_, "e2e-model")) == before
    assert push_run(storage_, delivery)["events"] == run["events"]


def test_docs_push_and_forged_deliveries_run_nothing(host, storage_):
    before = len(runs_of(storage_, "e2e-model"))
    docs = str(uuid.uuid4())
    assert post_push(host, github_push([github_commit(3, modified=["docs/x.md"])]), delivery=docs).status_code == 202
    forged = post_push(host, github_push([github_commit(4, modified=["training/a.py"])]), secret="guess")
    assert forged.status_code == 401
    host.wait_idle(120)
    record = storage_.read_json(names.HOOKS, intake.record_name("github", docs)).value
    assert record["state"] == "processed" and record["outcome"]["action"] == "nothing"
    assert push_run(storage_, docs) is None
    assert len(runs_of(storage_, "e2e-model")) == before


def labels_answer_the_drift(host, storage, name: str, seed: int) -> dict:
    """Upload labeled rows; the run they start answers the drift that waited for them."""
    storage.put_bytes(names.DATALAKE, name, csv_bytes(frame(400, seed=seed, shift=2.0)))
    run = wait_for_run(host, storage, lambda r: r["trigger"].get("blob") == name)
    assert run["status"] == "succeeded" and "answers the drift" in run["reason"], run["events"][-3:]
    return run


def test_a_drifted_upload_waits_for_labels_then_retrains_with_its_report(host, storage_):
    storage_.put_bytes(names.DATALAKE, "incoming/shifted.csv", csv_bytes(frame(1000, seed=7, shift=2.0)[FEATURES]))
    deadline = time.monotonic() + 60
    while (receipt := lake.read_receipt(storage_, "incoming/shifted.csv",
                                        storage_.etag(names.DATALAKE, "incoming/shifted.csv") or "")) is None:
        assert time.monotonic() < deadline, "the drifted upload was not handled"
        host.wait_idle(60)
    assert receipt["action"] == "labels-needed" and receipt["run_id"] is None  # nothing new to learn yet
    run = labels_answer_the_drift(host, storage_, "labeled/segment/labels.csv", seed=17)
    report = json.loads(run["first_message"])["payload"]["report"]
    container, _, name = report.partition("/")
    assert report == f"{names.REPORTS}/{receipt['report']}.json"
    assert json.loads(storage_.get_bytes(container, name)[0])["dataset_drift"] is True


def test_malformed_upload_ends_in_quarantine(host, storage_):
    storage_.put_bytes(names.DATALAKE, "labeled/broken.csv", b"feature_only\n1\n2\n")
    deadline = time.monotonic() + 60
    while not storage_.exists(names.DATALAKE, quarantine.reason_name("labeled/broken.csv")):
        assert time.monotonic() < deadline, "the malformed upload was not quarantined"
        host.wait_idle(60)
    reason = storage_.read_json(names.DATALAKE, quarantine.reason_name("labeled/broken.csv")).value
    assert "missing required column(s) label" in reason["reason"]
    assert storage_.exists(names.DATALAKE, "labeled/broken.csv")


def test_scored_traffic_that_drifted_waits_for_labels_from_the_drift_timer(host, storage_):
    shifted = frame(600, seed=8, shift=2.0)[FEATURES].to_dict(orient="records")
    for start in range(0, len(shifted), 200):
        response = requests.post(f"{host.url}/api/score", json={"records": shifted[start:start + 200]}, timeout=30)
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while sum(1 for b in storage_.list(names.DATALAKE, "scoring-log/e2e-model/") if b.name.endswith(".jsonl")) < 3:
        assert time.monotonic() < deadline, "the scoring log was not written"
        time.sleep(0.2)
    assert host.run_once("timer_drift")
    host.wait_idle(60)
    pending = lake.drift_pending(storage_, "e2e-model")
    assert pending is not None and pending["trigger"]["source"] == "scoring-log"  # labels needed
    run = labels_answer_the_drift(host, storage_, "labeled/segment/more-labels.csv", seed=18)
    assert "drift in the last 24 h of scoring" in run["reason"]


def wait_for_run(host, storage, match, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        host.wait_idle(timeout)
        found = [r for r in runs_of(storage, "e2e-model") if match(r)]
        if found and found[0]["status"] in FINAL_RUN:
            return found[0]
        assert time.monotonic() < deadline, "no finished run for the upload"

"""Indexing: the app lists every function with the trigger and bindings the host will see.

An import error at indexing makes the Functions host see zero functions, so this runs the same
`app.get_functions()` the Python worker runs, in a fresh interpreter (an app can be indexed once
per process), and checks the function.json of each function.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("route", "methods", "authLevel", "queueName", "path", "schedule", "connection", "source")

PROBE = """
import json
from function_app import app
print(json.dumps({f.get_function_name(): json.loads(f.get_function_json()) for f in app.get_functions()}))
"""

HTTP_OUT = [("http", "OUT", {})]


def http(route: str, method: str, auth: str = "FUNCTION"):
    return [("httpTrigger", "IN", {"route": route, "methods": [method], "authLevel": auth})] + HTTP_OUT


def queue(name: str):
    return [("queueTrigger", "IN", {"queueName": name, "connection": "AzureWebJobsStorage"})]


def blob(path: str, source: str = "LogsAndContainerScan"):
    return [("blobTrigger", "IN", {"path": path, "connection": "AzureWebJobsStorage", "source": source})]


def timer(setting: str):
    return [("timerTrigger", "IN", {"schedule": f"%{setting}%"})]


EXPECTED = {
    "hooks_github": http("hooks/github", "POST", "ANONYMOUS"),
    "hooks_azure_devops": http("hooks/azure-devops", "POST", "ANONYMOUS"),
    "on_push": queue("push"),
    "on_labeled": blob("datalake/labeled/{name}"),
    "on_incoming": blob("datalake/incoming/{name}"),
    "timer_drift": timer("DRIFTLINE_DRIFT_SCHEDULE"),
    "timer_retrain": timer("DRIFTLINE_RETRAIN_SCHEDULE"),
    "timer_sweep": timer("DRIFTLINE_SWEEP_SCHEDULE"),
    "timer_cleanup": timer("DRIFTLINE_CLEANUP_SCHEDULE"),
    "fetch": queue("fetch"),
    "unit_test": queue("unit-test"),
    "retrain": queue("retrain"),
    "register": queue("register"),
    "test": queue("test"),
    "deploy": queue("deploy"),
    "notify": queue("notify"),
    "approve_run": http("runs/{run_id}/approve", "POST", "ANONYMOUS"),  # the approver's identity authenticates
    "reject_run": http("runs/{run_id}/reject", "POST", "ANONYMOUS"),
    "rollback_model": http("models/{name}/rollback", "POST"),
    "promote_model": http("models/{name}/promote", "POST"),
    "retrain_model": http("models/{name}/retrain", "POST"),
    "health": http("health", "GET", "ANONYMOUS"),
    "openapi": http("openapi.json", "GET", "ANONYMOUS"),
    "model_list": http("models", "GET"),
    "run_list": http("runs", "GET"),
    "score": http("score", "POST"),
    "feedback": http("feedback", "POST"),
    "model_overview": http("models/{name}", "GET"),
    "model_lineage": http("models/{name}/lineage", "GET"),
    "run_timeline": http("runs/{run_id}", "GET"),
    "page_overview": http("pages", "GET"),
    "page_run": http("pages/runs/{run_id}", "GET"),
    "page_model": http("pages/models/{name}", "GET"),
    "page_drift_report": http("pages/reports/{name}/{report}", "GET"),
}


def index(env: dict[str, str] | None = None) -> dict[str, dict]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=None if env is None else {**__import__("os").environ, **env},
    )
    assert result.returncode == 0, f"indexing failed:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def summary(function_json: dict) -> list[tuple]:
    return [
        (b["type"], b["direction"], {k: v for k, v in b.items() if k in KEYS})
        for b in function_json["bindings"]
    ]


@pytest.fixture(scope="module")
def indexed() -> dict[str, dict]:
    return index()


def test_every_function_is_indexed(indexed):
    assert sorted(indexed) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_function_trigger_and_bindings(indexed, name):
    assert summary(indexed[name]) == EXPECTED[name]
    assert indexed[name]["scriptFile"] == "function_app.py"


def test_eventgrid_blob_source_for_flex_consumption():
    indexed = index({"DRIFTLINE_BLOB_SOURCE": "EventGrid"})
    assert summary(indexed["on_labeled"]) == blob("datalake/labeled/{name}", "EventGrid")
    assert summary(indexed["on_incoming"]) == blob("datalake/incoming/{name}", "EventGrid")

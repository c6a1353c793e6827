"""GET /api/models/{name}, /api/models/{name}/lineage and /api/runs/{run_id}."""

from __future__ import annotations

import pytest

from shared.chain import runs
from shared.platform.messages import StepMessage
from tests.helpers.api import payload, point, register_version


@pytest.fixture
def two_versions(api_env, storage, model_name, trained):
    """v1 then v2 promoted to production (v1 becomes previous)."""
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))
    point(storage, model_name, register_version(storage, model_name, trained[1], run_id="run0002"))


def get(call, function: str, **params):
    response = call(function, route_params=params)
    return response.status_code, payload(response)


def test_model_overview_lists_versions_metrics_aliases_and_history(call, two_versions, model_name):
    status, body = get(call, "model_overview", name=model_name)
    assert status == 200
    assert [(v["version"], v["aliases"], v["run_id"]) for v in body["versions"]] == [
        (1, ["previous"], "run0001"), (2, ["production"], "run0002")]
    assert body["versions"][1]["metrics"] == {"holdout": {"accuracy": 0.9}}
    assert body["aliases"]["production"]["version"] == 2
    assert [(h["alias"], h["from"], h["to"]) for h in body["history"]] == [  # newest first
        ("previous", None, 1), ("production", 1, 2), ("production", None, 1)]


def test_lineage_is_the_run_behind_production(call, two_versions, model_name):
    status, body = get(call, "model_lineage", name=model_name)
    assert status == 200
    assert body["version"] == 2 and body["run_id"] == "run0002" and body["run"] == "/api/runs/run0002"
    assert body["code"]["commit"] == "c0ffee0002" and body["code"]["repo"] == "org/driftline"
    assert body["code"]["source_sha256"] == "ab" * 32
    assert body["data"]["version"] == "data-run0002" and body["data"]["blobs"][0]["name"] == "labeled/a.csv"
    assert body["params"] == {"seed": 0, "target_column": "label"}
    assert body["metrics"] == {"holdout": {"accuracy": 0.9}}
    assert body["trigger"]["kind"] == "push"


def test_unknown_model_and_model_without_production_are_404(call, api_env, storage, model_name, trained):
    status, body = get(call, "model_overview", name=model_name)
    assert status == 404 and model_name in body["error"]
    assert get(call, "model_lineage", name=model_name)[0] == 404
    assert get(call, "model_overview", name="../etc")[0] == 400

    register_version(storage, model_name, trained[0], run_id="run0001")
    status, body = get(call, "model_lineage", name=model_name)
    assert status == 404 and "no production version" in body["error"]
    assert get(call, "model_overview", name=model_name)[0] == 200


def test_run_timeline_shows_steps_in_plan_order_with_durations_and_reasons(call, api_env, storage, model_name):
    run_id, _ = runs.start_run(storage, plan="app", model=model_name, trigger={"kind": "manual"},
                               reason="check the timeline")
    for step in ("fetch", "unit_test"):
        message = StepMessage(run_id=run_id, step=step, model=model_name, trigger={"kind": "manual"}, reason="r")
        assert runs.begin_step(storage, message).proceed
        runs.complete_step(storage, message, {})
    message = StepMessage(run_id=run_id, step="test", model=model_name, trigger={"kind": "manual"}, reason="r")
    assert runs.begin_step(storage, message).proceed
    runs.complete_step(storage, message, {"passed": True}, detail="gates passed", wait=True)
    runs.stop_run(storage, run_id, "approve", "rejected", "accuracy too low for the holiday season")

    status, body = get(call, "run_timeline", run_id=run_id)
    assert status == 200
    assert body["status"] == "rejected" and body["reason"] == "check the timeline"
    assert [(s["step"], s["status"]) for s in body["steps"]] == [
        ("fetch", "succeeded"), ("unit_test", "succeeded"), ("test", "succeeded"), ("approve", "rejected"),
        ("deploy", "skipped")]
    test_step, approve_step, deploy_step = body["steps"][2:5]
    assert test_step["duration_s"] is not None and test_step["duration_s"] >= 0
    assert test_step["attempts"] == 1 and test_step["outputs"] == {"passed": True}
    assert approve_step["reason"] == "accuracy too low for the holiday season"
    assert deploy_step["reason"] == "not run: the run rejected at approve"
    assert [e["status"] for e in body["events"]][-3:] == ["running", "succeeded", "rejected"]


def test_unknown_run_is_404(call, api_env, unique):
    status, body = get(call, "run_timeline", run_id=f"nope{unique}")
    assert status == 404 and f"nope{unique}" in body["error"]

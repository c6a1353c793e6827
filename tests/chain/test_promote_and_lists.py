"""A person's promotion and rollback to any registered version over HTTP, and the lists behind
GET /api/runs and GET /api/models."""

from __future__ import annotations

import json

import pytest

from shared.model import registry
from shared.platform.errors import BadRequest
from shared.serving import lookups
from tests.helpers.chain import principal


def three_versions(chain, quick_retrain) -> list[str]:
    run_ids = []
    for _ in range(3):
        run_id = chain.start([])
        quick_retrain(run_id)
        chain.pump(run_id)
        run_ids.append(run_id)
    assert registry.resolve(chain.storage, chain.model, "production") == 3
    return run_ids


def answer(response) -> tuple[int, dict]:
    return response.status_code, json.loads(response.get_body())


def test_rollback_to_any_version_and_promote(chain, quick_retrain):
    three_versions(chain, quick_retrain)
    body = {"by": "alice", "reason": "v3 and v2 misbehave"}
    status, moved = answer(chain.http("rollback_model", "r", {**body, "version": 1}, name=chain.model))
    assert status == 200 and moved["production"] == 1
    table = registry.aliases(chain.storage, chain.model)[0]["aliases"]
    assert table["production"]["version"] == 1 and "previous" not in table  # nothing served before v1
    assert answer(chain.http("rollback_model", "r", {**body, "version": 1}, name=chain.model))[0] == 409
    status, error = answer(chain.http("rollback_model", "r", {**body, "version": 7}, name=chain.model))
    assert status == 404 and "no committed version 7" in error["error"]
    assert answer(chain.http("rollback_model", "r", {**body, "version": "2"}, name=chain.model))[0] == 400

    status, moved = answer(chain.http("promote_model", "p", {**body, "version": 2}, name=chain.model))
    assert status == 200 and moved["production"] == 2 and moved["aliases"]["previous"]["version"] == 1
    assert answer(chain.http("promote_model", "p", {**body, "version": 2}, name=chain.model))[0] == 409
    assert answer(chain.http("promote_model", "p", body, name=chain.model))[0] == 400  # version is required
    promoted = [n for n in chain.notifications() if n["event"] == "model.promoted"]
    assert promoted[-1]["data"] | {"version": 2, "previous": 1, "by": "alice"} == promoted[-1]["data"]

    history = registry.aliases(chain.storage, chain.model)[0]["history"]
    moves = [(h["from"], h["to"], h.get("rollback", False)) for h in history if h["alias"] == "production"]
    assert moves[-2:] == [(3, 1, True), (1, 2, False)]


def test_who_promotes_rolls_back_or_retrains_is_recorded_with_how_it_was_proven(chain, quick_retrain):
    three_versions(chain, quick_retrain)
    status, error = answer(chain.http("rollback_model", "r", {"reason": "no name"}, name=chain.model))
    assert status == 400 and error["missing"] == ["by"]  # a key holder must say who they are
    assert answer(chain.http("rollback_model", "r", {"by": "alice", "reason": "bad v3"}, name=chain.model))[0] == 200
    chain.configure(trust_app_service_auth="true", approvers="bob@contoso.com")
    status, error = answer(chain.http("promote_model", "p", {"by": "bob@contoso.com", "reason": "x", "version": 3},
                                      name=chain.model, headers=principal("mallory@contoso.com")))
    assert status == 403 and "mallory@contoso.com" in error["error"]  # the principal, not the claimed name
    status, _ = answer(chain.http("promote_model", "p", {"by": "someone else", "reason": "fixed", "version": 3},
                                  name=chain.model, headers=principal("bob@contoso.com")))
    assert status == 200
    moves = [h for h in registry.aliases(chain.storage, chain.model)[0]["history"] if h["alias"] == "production"]
    assert (moves[-2]["by"], moves[-2]["identity"]["source"]) == ("alice", "function-key")
    assert (moves[-1]["by"], moves[-1]["identity"]["source"]) == ("bob@contoso.com", "app-service:aad")
    status, started = answer(chain.http("retrain_model", "t", {"reason": "fresh data"}, name=chain.model,
                                        headers=principal("bob@contoso.com")))
    assert status == 202
    trigger = chain.run(started["run_id"])["trigger"]
    assert trigger["by"] == "bob@contoso.com" and trigger["identity"]["id"] == "00000000-0000-0000-0000-00000000a11c"


def test_run_list_filters_and_orders(chain, quick_retrain):
    run_ids = three_versions(chain, quick_retrain)
    latest = chain.start([])
    listed = lookups.list_runs(chain.storage)["runs"]
    assert [r["run_id"] for r in listed][0] == latest  # most recently updated first
    assert {r["run_id"] for r in listed} == {*run_ids, latest}
    done = lookups.list_runs(chain.storage, status="succeeded", model=chain.model)["runs"]
    assert {r["run_id"] for r in done} == set(run_ids)
    assert all(r["step"] == "deploy" and r["step_status"] == "succeeded" for r in done)
    assert lookups.list_runs(chain.storage, model="another")["runs"] == []
    assert len(lookups.list_runs(chain.storage, limit="2")["runs"]) == 2
    for bad in ({"status": "done"}, {"limit": "0"}, {"limit": "many"}, {"model": "../x"}):
        with pytest.raises(BadRequest):
            lookups.list_runs(chain.storage, **bad)


def test_model_list_says_what_serves(chain, quick_retrain):
    assert lookups.list_models(chain.storage) == {"models": []}
    three_versions(chain, quick_retrain)
    assert lookups.list_models(chain.storage) == {"models": [
        {"model": chain.model, "serving": {"production": 3, "previous": 2, "canary": None}, "versions": 3}]}

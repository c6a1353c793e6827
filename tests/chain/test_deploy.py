"""Deploy: idempotent alias moves, rollback over HTTP, canary routing and automatic canary decisions."""

from __future__ import annotations

import json

from shared.model import canary, deploy, registry
from shared.platform import context, names


def test_redelivered_deploy_moves_production_once(chain, quick_retrain):
    run_id = chain.start([])
    quick_retrain(run_id)
    for queue in (names.REGISTER_QUEUE, names.TEST_QUEUE):
        for body in chain.take(queue, run_id):
            chain.deliver(queue, body)
    [body] = chain.take(names.DEPLOY_QUEUE, run_id)
    chain.deliver("deploy", body)
    chain.deliver("deploy", body)
    history = registry.aliases(chain.storage, chain.model)[0]["history"]
    assert [(h["alias"], h["to"]) for h in history] == [("candidate", 1), ("production", 1)]
    run = chain.run(run_id)
    assert run["status"] == "succeeded" and run["steps"]["deploy"]["attempts"] == 1
    deployed = [n for n in chain.notifications() if n["event"] == "model.deployed"]
    assert len(deployed) == 1 and deployed[0]["data"]["version"] == 1


def test_rollback_over_http(chain, quick_retrain):
    body = {"by": "alice", "reason": "v2 misbehaves"}
    assert chain.http("rollback_model", "models/x/rollback", body, name=chain.model).status_code == 404
    for _ in range(2):
        run_id = chain.start([])
        quick_retrain(run_id)
        chain.pump(run_id)
    assert registry.resolve(chain.storage, chain.model, "production") == 2
    response = chain.http("rollback_model", "models/x/rollback", body, name=chain.model)
    assert response.status_code == 200 and json.loads(response.get_body())["production"] == 1
    document, _ = registry.aliases(chain.storage, chain.model)
    last = document["history"][-2]
    assert (last["alias"], last["from"], last["to"], last["by"], last["why"]) == (
        "production", 2, 1, "alice", "v2 misbehaves")
    assert chain.http("rollback_model", "models/x/rollback", body, name=chain.model).status_code == 409
    assert chain.http("rollback_model", "models/x/rollback", {"by": "a"}, name=chain.model).status_code == 400
    assert [n["event"] for n in chain.notifications()][-1] == "model.rolled_back"
    half = chain.http("promote_model", "models/x/promote", {**body, "version": 1.5}, name=chain.model)
    assert half.status_code == 400 and "version" in json.loads(half.get_body())["error"]
    # 2.0 is an integer in JSON, as functions/openapi.json says `version` is
    promoted = chain.http("promote_model", "models/x/promote", {**body, "version": 2.0}, name=chain.model)
    assert promoted.status_code == 200 and registry.resolve(chain.storage, chain.model, "production") == 2


def test_route_is_deterministic_and_splits_by_percent():
    aliases = {"aliases": {"production": {"version": 1}, "canary": {"version": 2, "percent": 10}}}
    first = [deploy.route("m", f"user-{i}", aliases) for i in range(2000)]
    assert first == [deploy.route("m", f"user-{i}", aliases) for i in range(2000)]
    assert 150 < first.count("canary") < 250 and set(first) == {"production", "canary"}
    assert deploy.route("m", "k", {"aliases": {}}) is None
    assert deploy.route("m", "k", {"aliases": {"production": {"version": 4}}}) == "production"


def canary_run(chain, quick_retrain) -> int:
    for _ in range(2):
        run_id = chain.start([])
        quick_retrain(run_id)
        chain.pump(run_id)
        chain.configure(canary_percent="20", canary_min_requests="50")
    table = registry.aliases(chain.storage, chain.model)[0]["aliases"]
    assert table["production"]["version"] == 1 and table["canary"] == table["canary"] | {"version": 2, "percent": 20}
    return 2


def test_canary_with_errors_is_rolled_back_automatically(chain, quick_retrain):
    assert canary_run(chain, quick_retrain) == 2
    settings = context.settings()
    canary.record_canary_outcome(chain.storage, chain.model, "canary", requests=10, errors=5)
    assert canary.evaluate_canary(chain.storage, settings, chain.model).action == "wait"
    canary.record_canary_outcome(chain.storage, chain.model, "canary", requests=40, errors=0, latency_ms_sum=400)
    decision = canary.evaluate_canary(chain.storage, settings, chain.model)
    assert decision.action == "rollback" and "error rate 0.100" in decision.reason
    table = registry.aliases(chain.storage, chain.model)[0]["aliases"]
    assert "canary" not in table and table["production"]["version"] == 1
    assert "model.rolled_back" in [n["event"] for n in chain.notifications()]


def test_healthy_canary_is_promoted(chain, quick_retrain):
    assert canary_run(chain, quick_retrain) == 2
    canary.record_canary_outcome(chain.storage, chain.model, "canary", requests=60, errors=1, latency_ms_sum=600,
                                 feedback_correct=25, feedback_total=30)
    canary.record_canary_outcome(chain.storage, chain.model, "production", requests=240, feedback_correct=80, feedback_total=100)
    decision = canary.evaluate_canary(chain.storage, context.settings(), chain.model)
    assert decision.action == "promote"
    table = registry.aliases(chain.storage, chain.model)[0]["aliases"]
    assert table["production"]["version"] == 2 and table["previous"]["version"] == 1 and "canary" not in table
    assert canary.evaluate_canary(chain.storage, context.settings(), chain.model).action == "none"


def test_a_canary_only_noisily_worse_on_feedback_is_promoted_with_the_evidence(chain, quick_retrain):
    assert canary_run(chain, quick_retrain) == 2
    canary.record_canary_outcome(chain.storage, chain.model, "canary", requests=60, feedback_correct=21,
                                 feedback_total=25)  # 84 % against 90 %: within what 25 labels can tell
    canary.record_canary_outcome(chain.storage, chain.model, "production", requests=240, feedback_correct=90,
                                 feedback_total=100)
    decision = canary.evaluate_canary(chain.storage, context.settings(), chain.model)
    assert decision.action == "promote", decision.reason
    assert "feedback accuracy 0.84 on 25 labels against production's 0.9 on 100" in decision.reason
    assert "90% interval" in decision.reason and "not shown worse with 95% confidence" in decision.reason


def test_canary_with_worse_feedback_is_rolled_back(chain, quick_retrain):
    assert canary_run(chain, quick_retrain) == 2
    canary.record_canary_outcome(chain.storage, chain.model, "canary", requests=60, feedback_correct=10,
                                 feedback_total=30)
    canary.record_canary_outcome(chain.storage, chain.model, "production", requests=240, feedback_correct=80, feedback_total=100)
    decision = canary.evaluate_canary(chain.storage, context.settings(), chain.model)
    assert decision.action == "rollback" and "feedback accuracy" in decision.reason


def test_an_app_code_run_never_moves_production_back_to_the_version_it_tested(chain, quick_retrain):
    from shared.chain import runs
    from shared.platform.messages import StepMessage

    for _ in range(2):
        run_id = chain.start([])
        quick_retrain(run_id)
        chain.pump(run_id)
    assert registry.resolve(chain.storage, chain.model, "production") == 2
    app_run, _ = runs.start_run(chain.storage, plan="app", model=chain.model, reason="inference change",
                                trigger={"kind": "push", "commit": "abc"})
    chain.take(names.FETCH_QUEUE, app_run)
    for step in ("fetch", "unit_test", "test"):  # the run's steps up to deploy, done (a deploy ahead is deferred)
        message = runs.message_for_step(chain.run(app_run), step)
        assert runs.begin_step(chain.storage, message).proceed
        runs.complete_step(chain.storage, message, {"version": 1} if step == "test" else {})
    for queue in (names.UNIT_TEST_QUEUE, names.TEST_QUEUE, names.DEPLOY_QUEUE):
        chain.take(queue, app_run)
    # the run tested v1 while it was production; v2 was approved and deployed meanwhile
    stale = StepMessage(run_id=app_run, step="deploy", model=chain.model, trigger={"kind": "push", "commit": "abc"},
                        reason="inference change", payload={"version": 1})
    chain.deliver("deploy", stale.to_json())
    run = chain.run(app_run)
    assert run["status"] == "skipped" and "not the v1 this app-code run tested" in run["steps"]["deploy"]["detail"]
    assert registry.resolve(chain.storage, chain.model, "production") == 2

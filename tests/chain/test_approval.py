"""Approval between test and deploy: approve and reject over HTTP, and expiry by the sweeper's core."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from shared.chain import approvals
from shared.model import registry
from shared.platform import context, names
from tests.helpers.chain import principal


ALICE, BOB = principal("alice@contoso.com"), principal("bob@contoso.com", "00000000-0000-0000-0000-000000000b0b")


def waiting_run(chain, quick_retrain) -> str:
    chain.require_approval()
    run_id = chain.start([])
    quick_retrain(run_id)
    assert chain.pump(run_id) == ["register", "test"]
    assert chain.run(run_id)["status"] == "waiting"
    return run_id


def test_approve_records_who_and_why_then_deploys(chain, quick_retrain):
    run_id = waiting_run(chain, quick_retrain)
    requested = [n for n in chain.notifications() if n["event"] == "approval.requested"]
    assert requested[0]["data"]["approve"] == f"/api/runs/{run_id}/approve"

    missing = chain.http("approve_run", f"runs/{run_id}/approve", {"by": "alice"}, run_id=run_id, headers=ALICE)
    assert missing.status_code == 400 and "reason" in json.loads(missing.get_body())["error"]
    assert chain.http("approve_run", "runs/x/approve", b"not json", run_id=run_id).status_code == 400
    unknown = chain.http("approve_run", "runs/nope/approve", {"by": "a", "reason": "b"}, run_id="nope")
    assert unknown.status_code == 404

    response = chain.http("approve_run", f"runs/{run_id}/approve", {"by": "mallory", "reason": "metrics fine"},
                          run_id=run_id, headers=ALICE)
    assert response.status_code == 200 and json.loads(response.get_body())["next"] == "deploy"
    again = chain.http("approve_run", f"runs/{run_id}/approve", {"reason": "metrics fine"},
                       run_id=run_id, headers=ALICE)
    assert again.status_code == 200 and json.loads(again.get_body())["repeated"] is True
    chain.pump(run_id)  # the repeat re-sent deploy (it had not begun); the step runs once all the same
    run = chain.run(run_id)
    assert run["status"] == "succeeded" and run["steps"]["deploy"]["attempts"] == 1
    history = registry.aliases(chain.storage, chain.model)[0]["history"]
    assert [h["alias"] for h in history].count("production") == 1
    assert run["steps"]["approve"] | {"finished": None} == {
        "status": "succeeded", "by": "alice@contoso.com", "reason": "metrics fine", "finished": None,
        "detail": "approved by alice@contoso.com: metrics fine",
        "identity": {"name": "alice@contoso.com", "id": "00000000-0000-0000-0000-00000000a11c", "source": "app-service:aad"}}
    assert registry.resolve(chain.storage, chain.model, "production") == 1
    late = chain.http("reject_run", f"runs/{run_id}/reject", {"reason": "too late"}, run_id=run_id, headers=BOB)
    assert late.status_code == 409 and "not waiting" in json.loads(late.get_body())["error"]


def test_reject_ends_the_run_without_deploying(chain, quick_retrain):
    run_id = waiting_run(chain, quick_retrain)
    response = chain.http("reject_run", f"runs/{run_id}/reject", {"reason": "not this week"},
                          run_id=run_id, headers=BOB)
    assert response.status_code == 200
    run = chain.run(run_id)
    assert run["status"] == "rejected" and run["steps"]["approve"]["by"] == "bob@contoso.com"
    assert chain.take(names.DEPLOY_QUEUE, run_id) == []
    assert registry.resolve(chain.storage, chain.model, "production") is None
    assert not chain.storage.exists(names.RUNS, approvals.marker_blob(run_id))
    assert "run.rejected" in [n["event"] for n in chain.notifications()]


def test_expired_approval_is_rejected_by_the_sweeper(chain, quick_retrain):
    run_id = waiting_run(chain, quick_retrain)
    settings = context.settings()
    now = datetime.now(timezone.utc)
    assert run_id not in approvals.expire(chain.storage, settings, now)
    later = now + timedelta(hours=settings.approval_ttl_hours, minutes=1)
    assert run_id in approvals.expire(chain.storage, settings, later)
    run = chain.run(run_id)
    assert run["status"] == "rejected" and run["steps"]["approve"]["by"] == "driftline"
    assert "expired" in run["steps"]["approve"]["reason"]
    response = chain.http("approve_run", f"runs/{run_id}/approve", {"reason": "ok"}, run_id=run_id, headers=ALICE)
    assert response.status_code == 409
    assert run_id not in approvals.expire(chain.storage, settings, later)


def test_approving_after_expiry_rejects_instead(chain, quick_retrain):
    run_id = waiting_run(chain, quick_retrain)
    settings = context.settings()
    later = datetime.now(timezone.utc) + timedelta(hours=settings.approval_ttl_hours + 1)
    try:
        approvals.decide(chain.storage, settings, run_id, approved=True, reason="ok", headers=ALICE, now=later)
    except approvals.Expired as error:
        assert "expired" in str(error)
    else:
        raise AssertionError("an expired approval was accepted")
    assert chain.run(run_id)["status"] == "rejected"
    assert chain.take(names.DEPLOY_QUEUE, run_id) == []


def test_an_approval_after_production_changed_deploys_nothing(chain, quick_retrain):
    late = waiting_run(chain, quick_retrain)
    early = waiting_run(chain, quick_retrain)  # tested against the same (empty) production
    decision = {"reason": "looks good"}
    assert chain.http("approve_run", f"runs/{early}/approve", decision, run_id=early, headers=ALICE).status_code == 200
    chain.pump(early)
    production = registry.resolve(chain.storage, chain.model, "production")
    assert production is not None
    assert chain.http("approve_run", f"runs/{late}/approve", decision, run_id=late, headers=ALICE).status_code == 200
    chain.pump(late)
    run = chain.run(late)
    assert run["status"] == "rejected" and "the gates compared" in run["steps"]["deploy"]["detail"]
    assert registry.resolve(chain.storage, chain.model, "production") == production

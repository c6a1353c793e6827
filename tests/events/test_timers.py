"""Timers: each fired through the app's timer function (on MemoryStorage), and the cores with a moved clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from azure.functions.timer import TimerRequest

from shared.chain import approvals, runs
from shared.jobs import retention, scheduled, sweeper
from shared.platform import context, names
from shared.platform.messages import StepMessage
from tests.helpers import queues
from tests.helpers.event_data import FEATURES, frame
from tests.helpers.events import messages_for, runs_of

pytestmark = pytest.mark.usefixtures("env")


def fire(functions, name: str) -> None:
    functions[name](TimerRequest(past_due=False))


def write_log(storage, model: str, at: datetime, table, part: int = 0) -> str:
    """A scoring-log batch as shared/scoring_log writes it: JSON Lines, features at top level."""
    lines = [json.dumps({"request_id": f"r{part}-{i}", "index": 0, "ts": at.isoformat(), "version": 1,
                         "alias": "production", **row, "prediction": 0})
             for i, row in enumerate(table[FEATURES].to_dict(orient="records"))]
    name = f"{names.SCORING_LOG_PREFIX}{model}/{at.date().isoformat()}/{at.hour:02d}-test-{part:06d}.jsonl"
    storage.put_bytes(names.DATALAKE, name, ("\n".join(lines)).encode())  # last line without newline
    return name


def test_scheduled_jobs_are_off_unless_enabled(storage, functions, model_name, production):
    now = datetime.now(timezone.utc)
    write_log(storage, model_name, now, frame(300, seed=20, shift=3.0))
    fire(functions, "timer_drift")
    fire(functions, "timer_retrain")
    assert runs_of(storage, model_name) == []
    assert list(storage.list(names.REPORTS, f"{model_name}/")) == []


def test_scheduled_retrain_starts_one_run_per_slot(storage, functions, env, model_name):
    env(DRIFTLINE_SCHEDULED_RETRAIN="true")
    fire(functions, "timer_retrain")
    [run] = runs_of(storage, model_name)
    assert run["plan"] == "data" and run["trigger"]["kind"] == "timer"
    assert len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1
    now = datetime(2026, 3, 1, 3, 0, 30, tzinfo=timezone.utc)
    first = scheduled.scheduled_retrain(context.storage(), context.settings(), now)
    again = scheduled.scheduled_retrain(context.storage(), context.settings(), now + timedelta(seconds=20))
    assert (first.action, again.action) == ("started", "nothing") and first.run_ids == again.run_ids


def test_scheduled_drift_over_the_scoring_log_starts_a_retrain(storage, functions, env, model_name, production):
    from shared.model import datasets

    env(DRIFTLINE_SCHEDULED_DRIFT="true", DRIFTLINE_DRIFT_WINDOW_HOURS="6")
    now = datetime.now(timezone.utc)
    for part in range(3):
        write_log(storage, model_name, now - timedelta(minutes=30 * part), frame(400, seed=30 + part, shift=2.0), part)
    fire(functions, "timer_drift")  # drift, but no labeled rows production has not seen: it waits
    assert runs_of(storage, model_name) == []
    assert storage.read_json(names.MODELS, f"{model_name}/drift-pending.json") is not None
    datasets.accept(storage, model_name, datasets.DatasetFile("labeled/new.csv", "e", "f" * 64, 300, now.isoformat()))
    fire(functions, "timer_drift")  # the same drift with new labels to learn from: a retrain
    [run] = runs_of(storage, model_name)
    assert run["trigger"]["kind"] == "drift" and run["trigger"]["source"] == "scoring-log"
    [message] = messages_for(storage, names.FETCH_QUEUE, run["run_id"])
    report = json.loads(storage.get_bytes(*message["payload"]["report"].split("/", 1))[0])
    assert report["dataset_drift"] is True and report["rows"]["current"] == 1200


def test_scheduled_drift_reads_only_the_window(storage, env, model_name, production):
    env(DRIFTLINE_SCHEDULED_DRIFT="true", DRIFTLINE_DRIFT_WINDOW_HOURS="2")
    now = datetime(2026, 5, 10, 12, 15, tzinfo=timezone.utc)
    write_log(storage, model_name, now - timedelta(days=1), frame(500, seed=40, shift=3.0), 1)
    write_log(storage, model_name, now - timedelta(hours=5), frame(500, seed=41, shift=3.0), 2)
    inside = [write_log(storage, model_name, now - timedelta(minutes=m), frame(800, seed=42 + m), 3 + m)
              for m in (0, 90)]
    assert scheduled.scoring_log_blobs(context.storage(), model_name, now - timedelta(hours=2), now) == sorted(inside)
    outcome = scheduled.scheduled_drift(context.storage(), context.settings(), now)
    assert outcome.action == "checked" and "1600 logged rows" in outcome.detail
    assert runs_of(storage, model_name) == []


def test_scheduled_drift_without_production_or_log(storage, env, model_name):
    env(DRIFTLINE_SCHEDULED_DRIFT="true")
    now = datetime.now(timezone.utc)
    assert "no production model" in scheduled.scheduled_drift(context.storage(), context.settings(), now).detail


def start_stuck(storage, model_name: str, unique: str) -> tuple[str, StepMessage]:
    run_id, _ = runs.start_run(storage, plan="data", model=model_name, trigger={"kind": "manual"},
                               reason="test", payload={"note": unique}, run_id=f"stuck{unique}")
    queues.clear(storage, names.FETCH_QUEUE)
    message = StepMessage.from_json(runs.get_run(storage, run_id)["first_message"])
    assert runs.begin_step(storage, message).proceed
    return run_id, message


def test_sweeper_resends_a_stuck_step_then_fails_it(storage, env, model_name, unique):
    env(DRIFTLINE_STEP_TIMEOUT_MINUTES="10", DRIFTLINE_STEP_MAX_RETRIES="2")
    run_id, message = start_stuck(storage, model_name, unique)
    now = datetime.now(timezone.utc)
    assert sweeper.sweep(context.storage(), context.settings(), now).run_ids == ()  # not stuck yet
    for attempt in (2, 3):
        now += timedelta(minutes=11)
        outcome = sweeper.sweep(context.storage(), context.settings(), now)
        assert run_id in outcome.run_ids
        resent = [m for m in messages_for(storage, names.FETCH_QUEUE, run_id) if m["attempt"] == attempt]
        assert len(resent) == 1 and resent[0]["step"] == "fetch" and resent[0]["payload"] == {"note": unique}
        assert runs.get_run(storage, run_id)["status"] == "running"
    now += timedelta(minutes=11)
    sweeper.sweep(context.storage(), context.settings(), now)
    run = runs.get_run(storage, run_id)
    assert run["status"] == "failed" and run["steps"]["fetch"]["status"] == "failed"
    assert "running for more than 10 min after 2 resends" in run["events"][-1]["detail"]


def test_sweeper_leaves_a_long_step_alone_while_its_lease_is_renewed(storage, env, model_name, unique):
    env(DRIFTLINE_STEP_TIMEOUT_MINUTES="10", DRIFTLINE_STEP_MAX_RETRIES="0")
    run_id, message = start_stuck(storage, model_name, unique)
    token = runs.get_run(storage, run_id)["steps"]["fetch"]["lease"]["token"]
    now = datetime.now(timezone.utc)
    for _ in range(3):  # an hour of work, its heartbeat renewing the lease all along
        now += timedelta(minutes=20)
        assert runs.renew_lease(storage, message, token, 300, now=now)
        assert run_id not in sweeper.sweep(context.storage(), context.settings(), now).run_ids
    assert runs.get_run(storage, run_id)["status"] == "running"
    assert messages_for(storage, names.FETCH_QUEUE, run_id) == []
    now += timedelta(minutes=6)  # the worker died: no beat since, the lease has expired
    assert run_id in sweeper.sweep(context.storage(), context.settings(), now).run_ids
    assert runs.get_run(storage, run_id)["status"] == "failed"


def test_sweep_timer_expires_approvals(storage, functions, env, model_name, unique):
    run_id, _ = runs.start_run(storage, plan="app", model=model_name, trigger={"kind": "manual"},
                               reason="test", run_id=f"approve{unique}")
    message = StepMessage.from_json(runs.get_run(storage, run_id)["first_message"])
    runs.begin_step(storage, message)
    approvals.request(context.storage(), context.settings(), message, {"version": 1},
                      now=datetime.now(timezone.utc) - timedelta(days=30))
    assert runs.get_run(storage, run_id)["status"] == "waiting"
    fire(functions, "timer_sweep")
    run = runs.get_run(storage, run_id)
    assert run["status"] == "rejected" and "approval expired" in run["events"][-1]["detail"]


def test_sweep_timer_judges_the_canary(storage, functions, env, model_name, production):
    from shared.model import canary, registry

    env(DRIFTLINE_CANARY_MIN_REQUESTS="10", DRIFTLINE_CANARY_MAX_ERROR_RATE="0.05")
    registry.move_alias(storage, model_name, "canary", production, why="test", by="test", percent=20)
    canary.record_canary_outcome(storage, model_name, "canary", requests=9, errors=0, latency_ms_sum=9.0)
    fire(functions, "timer_sweep")
    assert registry.resolve(storage, model_name, "canary") == production  # 9 of 10 requests: wait
    canary.record_canary_outcome(storage, model_name, "canary", requests=11, errors=5, latency_ms_sum=11.0)
    fire(functions, "timer_sweep")
    assert registry.resolve(storage, model_name, "canary") is None
    history = registry.aliases(storage, model_name)[0]["history"]
    assert "error rate 0.250 above 0.05" in history[-1]["why"]


def test_sweeper_and_cleanup_can_be_switched_off(storage, env):
    env(DRIFTLINE_SWEEP_ENABLED="false", DRIFTLINE_CLEANUP_ENABLED="false")
    far = datetime.now(timezone.utc) + timedelta(days=3650)
    assert sweeper.sweep(context.storage(), context.settings(), far).action == "disabled"
    assert retention.cleanup(context.storage(), context.settings(), far).action == "disabled"


def test_cleanup_deletes_only_what_is_older_than_retention(storage, functions, env, model_name):
    env(DRIFTLINE_RETENTION_DAYS="7")
    log = write_log(storage, model_name, datetime.now(timezone.utc), frame(5, seed=1))
    report = f"{model_name}/20260101T000000Z-x.json"
    storage.put_bytes(names.REPORTS, report, b"{}")
    kept = f"labeled/{model_name}/keep.csv"
    storage.put_bytes(names.DATALAKE, kept, b"a\n1\n")
    fire(functions, "timer_cleanup")  # everything is fresh: nothing goes
    assert storage.exists(names.DATALAKE, log) and storage.exists(names.REPORTS, report)
    later = datetime.now(timezone.utc) + timedelta(days=8)
    outcome = retention.cleanup(context.storage(), context.settings(), later)
    assert outcome.action == "cleaned"
    assert not storage.exists(names.DATALAKE, log) and not storage.exists(names.REPORTS, report)
    assert storage.exists(names.DATALAKE, kept)


def test_sweeper_resends_a_first_message_that_was_lost(storage, env, model_name, unique):
    env(DRIFTLINE_STEP_TIMEOUT_MINUTES="10")
    run_id, _ = runs.start_run(storage, plan="app", model=model_name, trigger={"kind": "manual"},
                               reason="test", run_id=f"lost{unique}")
    queues.clear(storage, names.FETCH_QUEUE)  # the worker died right after the record was written
    later = datetime.now(timezone.utc) + timedelta(minutes=11)
    assert run_id in sweeper.sweep(context.storage(), context.settings(), later).run_ids
    [message] = messages_for(storage, names.FETCH_QUEUE, run_id)
    assert message["step"] == "fetch" and message["attempt"] == 2
    begun = runs.begin_step(storage, StepMessage.from_json(json.dumps(message)))
    assert begun.proceed and begun.run["steps"]["fetch"]["attempts"] == 1


def test_sweeper_skips_runs_whose_ci_result_never_came(storage, env, model_name, unique):
    env(DRIFTLINE_STEP_TIMEOUT_MINUTES="10", DRIFTLINE_CI_WAIT_HOURS="2")
    run_id, _ = runs.start_run(storage, plan="data", model=model_name, trigger={"kind": "push"},
                               reason="waiting for CI", run_id=f"ci{unique}", status="waiting")
    soon = datetime.now(timezone.utc) + timedelta(minutes=90)
    assert run_id not in sweeper.sweep(context.storage(), context.settings(), soon).run_ids
    assert runs.get_run(storage, run_id)["status"] == "waiting"
    later = datetime.now(timezone.utc) + timedelta(hours=2, minutes=1)
    outcome = sweeper.sweep(context.storage(), context.settings(), later)
    assert run_id in outcome.run_ids and "1 CI waits expired" in outcome.detail
    run = runs.get_run(storage, run_id)
    assert run["status"] == "skipped" and "no CI result for this commit within 2 h" in run["events"][-1]["detail"]
    assert messages_for(storage, names.FETCH_QUEUE, run_id) == []

"""Run state and step idempotency (on MemoryStorage: the core, called directly)."""

from __future__ import annotations

import json

import pytest

from shared.chain import runs
from shared.platform import names
from shared.platform.messages import InvalidMessage, StepMessage
from shared.platform.storage import Storage
from tests.helpers import queues


def drain(storage: Storage, queue: str) -> list[StepMessage]:
    return [StepMessage.from_json(body) for body in queues.take(storage, queue)]


def test_same_event_starts_one_run(storage: Storage, unique: str):
    run_id = runs.run_id_for("github", unique)
    trigger = {"kind": "push", "commit": "abc"}
    first = runs.start_run(storage, plan="data", model="m", trigger=trigger, reason="push", run_id=run_id)
    second = runs.start_run(storage, plan="data", model="m", trigger=trigger, reason="push", run_id=run_id)
    assert first == (run_id, True) and second == (run_id, False)
    sent = [m for m in drain(storage, names.FETCH_QUEUE) if m.run_id == run_id]
    assert len(sent) == 1 and sent[0].step == "fetch"


def test_redelivered_finished_step_does_nothing_but_repairs_a_lost_next(storage: Storage, unique: str):
    run_id, _ = runs.start_run(storage, plan="app", model="m", trigger={"kind": "manual"}, reason="r")
    message = next(m for m in drain(storage, names.FETCH_QUEUE) if m.run_id == run_id)
    assert runs.begin_step(storage, message).proceed
    runs.complete_step(storage, message, {"version": 3}, wait=False)
    following = [m for m in drain(storage, names.UNIT_TEST_QUEUE) if m.run_id == run_id]
    assert [m.payload["version"] for m in following] == [3]
    # redelivery: no second execution; the next step never began, so its message is sent again
    again = runs.begin_step(storage, message)
    assert not again.proceed and "already succeeded" in again.why
    assert [m.step for m in drain(storage, names.UNIT_TEST_QUEUE) if m.run_id == run_id] == ["unit_test"]
    run = runs.get_run(storage, run_id)
    assert run["steps"]["fetch"]["attempts"] == 1 and run["steps"]["fetch"]["outputs"] == {"version": 3}


def test_stopped_run_refuses_further_steps(storage: Storage):
    run_id, _ = runs.start_run(storage, plan="app", model="m", trigger={"kind": "manual"}, reason="r")
    message = next(m for m in drain(storage, names.FETCH_QUEUE) if m.run_id == run_id)
    runs.stop_run(storage, run_id, "fetch", "failed", "gate failed: accuracy 0.5 < 0.9")
    begin = runs.begin_step(storage, message)
    assert not begin.proceed
    assert runs.get_run(storage, run_id)["events"][-1]["detail"] == "gate failed: accuracy 0.5 < 0.9"


def test_a_step_records_its_duration_and_what_its_work_used_whether_it_completes_or_stops(storage: Storage):
    from shared.platform import usage

    run_id, _ = runs.start_run(storage, plan="app", model="m", trigger={"kind": "manual"}, reason="r")
    fetch = next(m for m in drain(storage, names.FETCH_QUEUE) if m.run_id == run_id)
    runs.begin_step(storage, fetch)
    runs.complete_step(storage, fetch, {})  # no meter open: nothing measured is claimed
    unit = next(m for m in drain(storage, names.UNIT_TEST_QUEUE) if m.run_id == run_id)
    runs.begin_step(storage, unit)
    with usage.metered():
        runs.stop_run(storage, run_id, "unit_test", "rejected", "a test failed")
    steps = runs.get_run(storage, run_id)["steps"]
    assert "usage" not in steps["fetch"] and steps["fetch"]["duration_s"] >= 0
    assert steps["unit_test"]["duration_s"] >= 0 and steps["unit_test"]["usage"]["children"] == 0
    assert set(steps["unit_test"]["usage"]) == {"wall_s", "cpu_s", "peak_mb", "child_wall_s", "child_cpu_s",
                                                "child_peak_mb", "children"}


def test_bad_message_goes_to_poison_with_reason(storage: Storage, unique: str):
    run_id, _ = runs.start_run(storage, plan="app", model="m", trigger={"kind": "manual"}, reason="r")
    body = json.dumps({"schema": "driftline.step/99", "run_id": run_id})
    with pytest.raises(InvalidMessage) as caught:
        StepMessage.from_json(body)
    runs.poison(storage, names.TEST_QUEUE, body, caught.value.reason, caught.value.run_id)
    entries = [json.loads(body) for body in queues.take(storage, f"{names.TEST_QUEUE}-poison")]
    assert any(e["body"] == body and "unknown message schema" in e["reason"] for e in entries)
    assert runs.get_run(storage, run_id)["status"] == "failed"


@pytest.mark.parametrize(
    "body, expected",
    [
        ("not json", "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),  # nested past the parser's recursion: poisoned, not retried
        ("[]", "not a JSON object"),
        (json.dumps({"schema": "driftline.step/1", "run_id": "r", "step": "test", "model": "m", "reason": "x",
                     "trace": "t", "trigger": {"kind": "push"}, "deferred": "x"}), "deferred must be an integer"),
        (json.dumps({"schema": "driftline.step/1", "run_id": "r", "step": "test", "model": "m",
                     "reason": "x", "trace": "t", "trigger": {"kind": "bogus"}}), "trigger must be"),
        (json.dumps({"schema": "driftline.step/1", "run_id": "r", "step": "", "model": "m",
                     "reason": "x", "trace": "t", "trigger": {"kind": "push"}, "extra": 1}), "unknown fields extra"),
    ],
)
def test_message_parsing_names_the_problem(body: str, expected: str):
    with pytest.raises(InvalidMessage, match=expected):
        StepMessage.from_json(body)


def test_message_round_trip():
    message = StepMessage(run_id="r", step="retrain", model="m", trigger={"kind": "timer"}, reason="nightly")
    assert StepMessage.from_json(message.to_json()) == message
    assert message.next("register", {"a": 1}).trace == message.trace

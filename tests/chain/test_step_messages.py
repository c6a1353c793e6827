"""Step messages in any number and order: a step runs once. Extra copies of a running step are put
back while its lease holds and do nothing once it finished; a killed worker's step is taken over when
its lease expires; a message ahead of its step is deferred, not fatal; a crash between a labeled
upload's run and its receipt never makes a second run. Delays run on a hand-driven queue clock."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from shared.chain import runs
from shared.chain.steps import StepAction, run_step
from shared.model import steps as model_steps
from shared.platform import context, names
from shared.platform.memory_storage import MemoryStorage
from shared.platform.messages import StepMessage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(clock) -> MemoryStorage:
    """The test's storage, its delayed messages visible when the test moves the clock."""
    return MemoryStorage(clock=clock)


def step_message(chain, run_id: str, step: str) -> StepMessage:
    return runs.message_for_step(chain.run(run_id), step)


def count_calls(monkeypatch, name: str, during=None) -> list[StepMessage]:
    """Wrap one of the model's step functions: record each call, run `during` inside the first one."""
    calls: list[StepMessage] = []
    real = getattr(model_steps, name)

    def wrapped(storage, settings, message):
        calls.append(message)
        if during is not None and len(calls) == 1:
            during(message)
        return real(storage, settings, message)

    monkeypatch.setattr(model_steps, name, wrapped)
    return calls


def test_extra_copies_of_a_running_retrain_wait_and_it_trains_once(chain, labeled_frame, monkeypatch, clock):
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    copies = []

    def three_copies_arrive(message):
        for _ in range(3):
            copies.append(run_step(chain.storage, context.settings(), names.RETRAIN_QUEUE, "retrain",
                                   message.to_json(), model_steps.retrain_step))

    trained = count_calls(monkeypatch, "retrain_step", three_copies_arrive)
    assert chain.pump(run_id) == ["fetch", "retrain", "register", "test", "deploy"]
    assert [c.action for c in copies] == [StepAction.DEFERRED] * 3
    assert all("running under another lease" in c.detail for c in copies)
    clock.now += runs.MAX_DEFER_SECONDS + 1  # the deferred copies come back after the step finished
    assert chain.pump(run_id) == ["retrain"] * 3
    run = chain.run(run_id)
    assert len(trained) == 1 and run["status"] == "succeeded" and run["steps"]["retrain"]["attempts"] == 1
    assert run["steps"]["register"]["outputs"]["version"] == 1 and "lease" not in run["steps"]["retrain"]


def test_a_killed_workers_step_is_taken_over_once_its_lease_expires(chain, labeled_frame):
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    message = step_message(chain, run_id, "fetch")
    chain.take(names.FETCH_QUEUE, run_id)
    now = datetime.now(timezone.utc)
    first = runs.begin_step(chain.storage, message, lease_seconds=300, now=now)
    assert first.proceed  # ... and this worker is killed: no heartbeat, no completion
    copy = runs.begin_step(chain.storage, message, lease_seconds=300, now=now + timedelta(seconds=100))
    assert not copy.proceed and 200 <= copy.defer_seconds <= 201  # (the lease is kept to the millisecond)
    late = runs.begin_step(chain.storage, message, lease_seconds=300, now=now + timedelta(seconds=301))
    assert late.proceed and late.token != first.token
    entry = chain.run(run_id)["steps"]["fetch"]
    assert entry["attempts"] == 2 and entry["lease"]["token"] == late.token
    assert chain.run(run_id)["events"][-1]["detail"] == "attempt 2 (took over an expired lease)"
    assert not runs.renew_lease(chain.storage, message, first.token, 300)  # the old holder lost it
    assert runs.renew_lease(chain.storage, message, late.token, 300, now=now + timedelta(seconds=400))
    assert chain.run(run_id)["steps"]["fetch"]["lease"]["until"] > entry["lease"]["until"]


def test_messages_ahead_of_their_step_are_deferred_and_the_run_still_succeeds(chain, labeled_frame, monkeypatch, clock):
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    registered = count_calls(monkeypatch, "register_step")
    early = {}
    for step, queue in (("register", names.REGISTER_QUEUE), ("test", names.TEST_QUEUE), ("deploy", names.DEPLOY_QUEUE)):
        body = step_message(chain, run_id, step).to_json()
        early[step] = run_step(chain.storage, context.settings(), queue, step, body, getattr(model_steps, f"{step}_step"))
    assert {step: outcome.action for step, outcome in early.items()} == dict.fromkeys(early, StepAction.DEFERRED)
    assert "ahead of its step: fetch has not succeeded yet" in early["register"].detail
    assert chain.run(run_id)["status"] == "running" and not chain.take(f"{names.REGISTER_QUEUE}-poison")
    assert chain.pump(run_id) == ["fetch", "retrain", "register", "test", "deploy"]
    clock.now += runs.MAX_DEFER_SECONDS + 1
    assert sorted(chain.pump(run_id)) == ["deploy", "register", "test"]  # the early copies: nothing to do
    run = chain.run(run_id)
    assert run["status"] == "succeeded" and len(registered) == 1
    assert [e for e in run["events"] if e["status"] == "failed"] == []


def test_a_copy_deferred_too_often_gives_up_without_failing_the_run(chain, labeled_frame):
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    tired = replace(step_message(chain, run_id, "deploy"), deferred=runs.MAX_DEFERRALS)
    outcome = run_step(chain.storage, context.settings(), names.DEPLOY_QUEUE, "deploy", tired.to_json(),
                       model_steps.deploy_step)
    assert outcome.action is StepAction.ACKNOWLEDGED and "gave up after 50 deferrals" in outcome.detail
    assert chain.run(run_id)["status"] == "running"


def test_a_deploy_copy_during_the_approval_wait_deploys_nothing(chain, labeled_frame, quick_retrain):
    chain.require_approval()
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    quick_retrain(run_id)
    chain.pump(run_id)
    assert chain.run(run_id)["status"] == "waiting"
    body = step_message(chain, run_id, "deploy").to_json()
    outcome = run_step(chain.storage, context.settings(), names.DEPLOY_QUEUE, "deploy", body, model_steps.deploy_step)
    assert outcome.action is StepAction.DEFERRED or outcome.action is StepAction.ACKNOWLEDGED
    run = chain.run(run_id)
    assert run["status"] == "waiting" and "deploy" not in run["steps"]


def test_a_step_whose_work_raised_is_retried_at_once(chain, labeled_frame, monkeypatch):
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    body = chain.take(names.FETCH_QUEUE, run_id)[0]
    failures = []

    def flaky(storage, settings, message):
        if not failures:
            failures.append(message)
            raise ConnectionError("storage blinked")
        return real(storage, settings, message)

    real = model_steps.fetch_step
    with pytest.raises(ConnectionError):
        run_step(chain.storage, context.settings(), names.FETCH_QUEUE, "fetch", body, flaky)
    assert "lease" not in chain.run(run_id)["steps"]["fetch"]  # released for the host's retry
    retried = run_step(chain.storage, context.settings(), names.FETCH_QUEUE, "fetch", body, flaky)
    assert retried.action is StepAction.DONE and chain.run(run_id)["steps"]["fetch"]["attempts"] == 2


def test_the_heartbeat_renews_the_lease_while_the_work_runs(chain, labeled_frame):
    chain.configure(step_lease_seconds="3")  # a beat every second
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    body = chain.take(names.FETCH_QUEUE, run_id)[0]
    seen = []

    def long_work(storage, settings, message):
        first = chain.run(run_id)["steps"]["fetch"]["lease"]["until"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # waits for an event, asserts no duration
            current = chain.run(run_id)["steps"]["fetch"]["lease"]["until"]
            if current != first:
                seen.append(current)
                break
            time.sleep(0.05)
        model_steps.fetch_step(storage, settings, message)

    assert run_step(chain.storage, context.settings(), names.FETCH_QUEUE, "fetch", body, long_work).action is StepAction.DONE
    assert seen and "lease" not in chain.run(run_id)["steps"]["fetch"]

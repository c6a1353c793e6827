"""Run state and step idempotency: `runs/<run_id>.json`, changed only with ETag conditions.

A run is one pass through a plan (see `shared/chain/plans.py`). Each step is keyed by (run id, step):
- `begin_step` marks it running, or says the step already finished (a redelivered message), in
  which case the trigger acknowledges the message without doing the work again;
- `complete_step` records the outputs and enqueues the next step of the plan;
- `stop_run` ends the run with a status and a reason (failed gate, rejection, bad message).
Both record on the step, in the same write, the compute its work used so far when it runs under a
meter (`shared.platform.usage`, opened by the step adapter): `usage` with wall and CPU seconds and
peak memory of the worker and of its sandboxed subprocesses.

A step's record holds a lease (`{"token", "until"}`, DRIFTLINE_STEP_LEASE_SECONDS) while it runs, renewed by a
heartbeat: another copy of its message is put back on the queue until the step finished (then it
does nothing) or the lease expired (a killed worker: the copy takes over). A message whose earlier
steps have not succeeded is put back too (`defer`), not run and not failed.

Order matters for crash safety: the outputs are recorded before the next message is sent, and a
redelivered message for a finished step re-sends the next message if the next step never began,
so a worker killed between the two writes neither loses the chain nor repeats the step's work. A
run's first message lost between `start_run`'s two writes is sent again by a redelivery of what
started the run (`send_first_again`), or by the sweeper (`resend_step`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.chain import plans
from shared.chain.states import RunStatus, StepStatus, run_status, step_status
from shared.platform import names, usage
from shared.platform.clock import utcnow
from shared.platform.errors import BadRequest, ConditionFailed, NotFound, StateConflict
from shared.platform.messages import StepMessage
from shared.platform.storage import Storage

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


def check_run_id(run_id: object) -> str:
    """A run id as the API issues them (letters and digits), checked before any storage path is built."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        shown = repr(run_id)[:40]
        raise BadRequest(f"run id {shown} is not valid: run ids are letters and digits, as the API returns them.")
    return run_id


def run_blob(run_id: str) -> str:
    return f"{check_run_id(run_id)}.json"


def run_id_for(*parts: str) -> str:
    """A deterministic run id from what started it (e.g. a webhook delivery id), so a repeated
    event maps to the same run and cannot start a second one."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def new_run_id() -> str:
    return uuid.uuid4().hex


def get_run(storage: Storage, run_id: str) -> dict[str, Any] | None:
    document = storage.read_json(names.RUNS, run_blob(run_id))
    return None if document is None else document.value


def start_run(
    storage: Storage,
    *,
    plan: str,
    model: str,
    trigger: dict[str, Any],
    reason: str,
    payload: dict[str, Any] | None = None,
    run_id: str | None = None,
    status: RunStatus = RunStatus.RUNNING,
    delay_seconds: int | None = None,
) -> tuple[str, bool]:
    """Create the run record and enqueue its first step. Returns (run_id, created).

    With a deterministic `run_id`, a second start of the same event returns created=False and
    sends nothing. With status WAITING (e.g. waiting for CI) the record is made but no step is
    sent; `release_run` sends it later. `delay_seconds` keeps the first message invisible that
    long (uploads landing together join the run before its retrain reads the data).
    """
    if plan not in plans.PLANS:
        raise ValueError(f"unknown plan {plan!r}; expected one of {', '.join(plans.PLANS)}")
    run_id = run_id or new_run_id()
    first = plans.first_step(plan)
    message = StepMessage(run_id=run_id, step=first, model=model, trigger=trigger, reason=reason,
                          payload=dict(payload or {}))
    record = {
        "run_id": run_id,
        "model": model,
        "plan": plan,
        "steps_planned": list(plans.PLANS[plan]),
        "trigger": trigger,
        "reason": reason,
        "trace": message.trace,
        "status": status,
        "created": utcnow(),
        "updated": utcnow(),
        "steps": {},
        "events": [{"at": utcnow(), "step": None, "status": status, "detail": reason}],
        "first_message": message.to_json(),
    }
    try:
        storage.create_json(names.RUNS, run_blob(run_id), record)
    except ConditionFailed:
        return run_id, False
    if status is RunStatus.RUNNING:
        _send(storage, message, delay_seconds=delay_seconds)
    return run_id, True


def release_run(storage: Storage, run_id: str, detail: str) -> bool:
    """Start a run that was waiting (for CI); returns False if it was not waiting."""
    released = {"value": False}

    def change(run):
        released["value"] = run_status(run["status"]) is RunStatus.WAITING
        if released["value"]:
            _event(run, None, RunStatus.RUNNING, detail)
            run["status"] = RunStatus.RUNNING
        return run

    run = storage.update_json(names.RUNS, run_blob(run_id), change, create=False)
    if run is not None and released["value"]:
        _send(storage, StepMessage.from_json(run["first_message"]))
    return run is not None and released["value"]


DEFAULT_LEASE_SECONDS = 300.0
MAX_DEFERRALS = 50  # a copy put back this often gives up (its run is stuck; the sweeper deals with it)
MAX_DEFER_SECONDS = 300


@dataclass(frozen=True)
class Begin:
    """What a step message may do: proceed (holding the lease `token`), be put back for
    `defer_seconds` (its step cannot begin yet), or nothing (finished, over, or redundant)."""

    proceed: bool
    run: dict[str, Any] | None
    why: str = ""
    token: str | None = None
    defer_seconds: int | None = None


def begin_step(storage: Storage, message: StepMessage, *, lease_seconds: float = DEFAULT_LEASE_SECONDS,
               now: datetime | None = None) -> Begin:
    """Take the step's lease and mark it running, or say why this message must not run it now.

    - the step finished, or the run is over: nothing (a redelivery; a lost next message is re-sent);
    - the run waits (CI, approval): nothing, since resuming it sends the message anew;
    - an earlier step of the plan has not succeeded: deferred, the message is ahead of its step;
    - another copy holds an unexpired lease on the step: deferred until the lease would expire, so
      copies of a running step never run it twice, and a killed worker's step (no more heartbeats)
      is taken over by the next copy once its lease expires.
    Taking over an expired lease counts as a new attempt."""
    moment = now or datetime.now(timezone.utc)
    token = uuid.uuid4().hex
    outcome: dict[str, Any] = {}

    def change(run):
        step = run["steps"].get(message.step, {})
        planned = run.get("steps_planned", [])
        if step_status(step).final:
            outcome.update(proceed=False, why=f"step {message.step} already {step['status']}")
            return run
        if run_status(run["status"]).final:
            outcome.update(proceed=False, why=f"run already {run['status']}")
            return run
        if run_status(run["status"]) is RunStatus.WAITING:
            outcome.update(proceed=False, why="run is waiting; resuming it sends this step's message")
            return run
        if message.step not in planned:
            outcome.update(proceed=False, why=f"step {message.step} is not in the {run['plan']} plan")
            return run
        unfinished = [s for s in planned[: planned.index(message.step)]
                      if step_status(run["steps"].get(s)) not in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)]
        if unfinished:
            outcome.update(proceed=False, why=f"ahead of its step: {unfinished[0]} has not succeeded yet",
                           defer=min(MAX_DEFER_SECONDS, 10 * 2 ** min(message.deferred, 5)))
            return run
        lease = step.get("lease") or {}
        if step_status(step) is StepStatus.RUNNING and lease and datetime.fromisoformat(lease["until"]) > moment:
            remaining = (datetime.fromisoformat(lease["until"]) - moment).total_seconds()
            outcome.update(proceed=False, why=f"step {message.step} is running under another lease until "
                                              f"{lease['until']}", defer=min(MAX_DEFER_SECONDS, int(remaining) + 1))
            return run
        outcome.update(proceed=True, why="")
        step.update(status=StepStatus.RUNNING, started=utcnow(), attempts=step.get("attempts", 0) + 1,
                    lease=_lease(token, moment, lease_seconds))
        run["steps"][message.step] = step
        run["status"] = RunStatus.RUNNING
        run["updated"] = utcnow()
        taken = " (took over an expired lease)" if lease else ""
        _event(run, message.step, StepStatus.RUNNING, f"attempt {step['attempts']}{taken}")
        return run

    run = storage.update_json(names.RUNS, run_blob(message.run_id), change, create=False)
    if run is None:
        return Begin(False, None, f"run {message.run_id} does not exist")
    if outcome.get("defer") is not None:
        if message.deferred >= MAX_DEFERRALS:
            return Begin(False, run, f"{outcome['why']}; gave up after {message.deferred} deferrals")
        return Begin(False, run, outcome["why"], defer_seconds=outcome["defer"])
    if not outcome["proceed"]:
        _resend_next_if_lost(storage, run, message)
        return Begin(False, run, outcome["why"])
    return Begin(True, run, "", token=token)


def _lease(token: str, moment: datetime, lease_seconds: float) -> dict[str, str]:
    until = (moment + timedelta(seconds=lease_seconds)).isoformat(timespec="milliseconds")
    return {"token": token, "until": until}


def defer(storage: Storage, message: StepMessage, delay_seconds: int) -> None:
    """Put a step message back on its queue, invisible for `delay_seconds`, counting the deferral."""
    _send(storage, replace(message, deferred=message.deferred + 1), delay_seconds=max(1, delay_seconds))


def renew_lease(storage: Storage, message: StepMessage, token: str, lease_seconds: float,
                now: datetime | None = None) -> bool:
    """Extend the lease this worker holds on its running step (the heartbeat); False if it lost it."""
    moment = now or datetime.now(timezone.utc)
    held = {"value": False}

    def change(run):
        entry = run["steps"].get(message.step, {})
        held["value"] = step_status(entry) is StepStatus.RUNNING and (entry.get("lease") or {}).get("token") == token
        if held["value"]:
            entry["lease"] = _lease(token, moment, lease_seconds)
        return run

    storage.update_json(names.RUNS, run_blob(message.run_id), change, create=False)
    return held["value"]


def claim_lease(storage: Storage, message: StepMessage, token: str, lease_seconds: float,
                now: datetime | None = None) -> bool:
    """Hold the running step's lease as `token`, whoever held it before: for a worker that carries on
    a step another began (the Azure ML job of a retrain the app submitted and returned from), whose
    heartbeat then keeps the step from being swept or taken over while it works. False when the step
    is not running any more."""
    moment = now or datetime.now(timezone.utc)
    held = {"value": False}

    def change(run):
        entry = run["steps"].get(message.step, {})
        held["value"] = step_status(entry) is StepStatus.RUNNING and not run_status(run["status"]).final
        if held["value"]:
            entry["lease"] = _lease(token, moment, lease_seconds)
        return run

    storage.update_json(names.RUNS, run_blob(message.run_id), change, create=False)
    return held["value"]


def release_lease(storage: Storage, message: StepMessage, token: str) -> None:
    """Give the lease up (the work raised and the host will retry): the retry may begin at once."""

    def change(run):
        entry = run["steps"].get(message.step, {})
        if (entry.get("lease") or {}).get("token") == token:
            entry.pop("lease")
        return run

    storage.update_json(names.RUNS, run_blob(message.run_id), change, create=False)


@contextmanager
def heartbeat(storage: Storage, message: StepMessage, token: str, lease_seconds: float) -> Iterator[None]:
    """Renew the step's lease every third of its length while the body runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_seconds / 3):
            try:
                if not renew_lease(storage, message, token, lease_seconds):
                    return
            except Exception as error:  # a missed beat only shortens the lease; the work goes on
                log.warning("run %s step %s: lease renewal failed: %s", message.run_id, message.step, error)

    thread = threading.Thread(target=beat, name=f"lease-{message.run_id[:8]}-{message.step}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def complete_step(
    storage: Storage,
    message: StepMessage,
    outputs: dict[str, Any],
    *,
    detail: str = "",
    wait: bool = False,
) -> str | None:
    """Record the step's outputs and enqueue the next step of the plan; returns its name.

    A following step without a queue (approval) pauses the run when wait=True (WAITING, nothing
    sent; the approve call resumes it) and is recorded as skipped otherwise.
    """
    run = get_run(storage, message.run_id)
    if run is None:
        raise UnknownRun(f"run {message.run_id} does not exist.")
    plan = run["plan"]
    following = plans.next_step(plan, message.step)
    skipped = None
    if following is not None and plans.QUEUE_FOR_STEP[following] is None and not wait:
        skipped, following = following, plans.next_step(plan, following)

    measured = usage.current()

    def change(run):
        step = run["steps"].setdefault(message.step, {})
        step.update(status=StepStatus.SUCCEEDED, finished=utcnow(), outputs=outputs, detail=detail)
        if measured is not None:
            step["usage"] = measured.to_dict()
        step.pop("lease", None)
        if "started" in step:
            step["duration_s"] = _seconds_between(step["started"], step["finished"])
        _event(run, message.step, StepStatus.SUCCEEDED, detail)
        if skipped is not None:
            run["steps"][skipped] = {"status": StepStatus.SKIPPED, "finished": utcnow(), "detail": "not required"}
            _event(run, skipped, StepStatus.SKIPPED, "not required")
        if wait:
            run["status"] = RunStatus.WAITING
        elif following is None:
            run["status"] = RunStatus.SUCCEEDED
        run["updated"] = utcnow()
        return run

    storage.update_json(names.RUNS, run_blob(message.run_id), change)
    if wait or following is None:
        return None
    _send(storage, message.next(following, {**message.payload, **outputs}))
    return following


def stop_run(storage: Storage, run_id: str, step: str | None, status: RunStatus, reason: str,
             outputs: dict[str, Any] | None = None, traceback: str | None = None) -> None:
    """End the run (failed, rejected, skipped) with the reason recorded on the run and step, and in
    the same write the step's outputs when given (e.g. every gate result) and the traceback of the
    user's code that failed. The planned steps that never began are marked skipped with why, so none
    stays pending. No-op for unknown runs."""

    measured = usage.current()

    def change(run):
        if step is not None:
            entry = run["steps"].setdefault(step, {})
            entry.update(status=StepStatus(status), finished=utcnow(), detail=reason)
            if "started" in entry:
                entry["duration_s"] = _seconds_between(entry["started"], entry["finished"])
            if measured is not None:
                entry["usage"] = measured.to_dict()
            entry.pop("lease", None)
            if outputs is not None:
                entry["outputs"] = dict(outputs)
            if traceback:
                entry["traceback"] = traceback
        run["status"] = status
        run["updated"] = utcnow()
        _event(run, step, status, reason)
        _skip_pending(run, f"not run: the run {status} at {step}" if step else f"not run: the run {status}")
        return run

    storage.update_json(names.RUNS, run_blob(run_id), change, create=False)


def _skip_pending(run: dict[str, Any], why: str) -> None:
    """Mark skipped every planned step of a stopped run that never began."""
    for planned in run.get("steps_planned", []):
        if planned not in run["steps"]:
            run["steps"][planned] = {"status": StepStatus.SKIPPED, "finished": utcnow(), "detail": why}


def _resend_next_if_lost(storage: Storage, run: dict[str, Any], message: StepMessage) -> None:
    step = run["steps"].get(message.step, {})
    status = run_status(run["status"])
    if step_status(step) is not StepStatus.SUCCEEDED or status.final or status is RunStatus.WAITING:
        return
    following = plans.next_step(run["plan"], message.step)
    while following is not None and step_status(run["steps"].get(following)) is StepStatus.SKIPPED:
        following = plans.next_step(run["plan"], following)
    if following is None or following in run["steps"] or plans.QUEUE_FOR_STEP[following] is None:
        return
    _send(storage, message.next(following, {**message.payload, **step.get("outputs", {})}))


def _send(storage: Storage, message: StepMessage, *, delay_seconds: int | None = None) -> None:
    queue = plans.QUEUE_FOR_STEP[message.step]
    if queue is None:
        raise ValueError(f"step {message.step!r} is not carried by a queue")
    storage.send(queue, message.to_json(), delay_seconds=delay_seconds)


def add_event(storage: Storage, run_id: str, detail: str, *, once: bool = False) -> None:
    """Note something on the run without changing its state (e.g. an upload joining it); with `once`,
    not if the run notes it already (the same upload handled again, or by two workers at once)."""

    def change(run):
        if once and any(event["detail"] == detail for event in run["events"]):
            return run
        _event(run, None, run["status"], detail)
        run["updated"] = utcnow()
        return run

    storage.update_json(names.RUNS, run_blob(run_id), change, create=False)


def message_for_step(run: dict[str, Any], step: str) -> StepMessage:
    """Rebuild the message of one step from the run record: the first message, with the outputs
    of the steps before it merged into the payload in plan order, as `complete_step` sends it."""
    first = StepMessage.from_json(run["first_message"])
    payload = dict(first.payload)
    for earlier in run["steps_planned"][: run["steps_planned"].index(step)]:
        payload.update(run["steps"].get(earlier, {}).get("outputs", {}))
    return first.next(step, payload)


def send_first_again(storage: Storage, run_id: str, *, delay_seconds: int | None = None) -> bool:
    """Send a running run's first message again when none of its steps has begun: a crash between
    `start_run`'s two writes lost it (a redelivery of what started the run calls this). If the first
    message was not lost, the copy does what any redelivered step message does: waits or nothing.
    False (nothing sent) when a step began or the run is not running."""
    run = get_run(storage, run_id)
    if run is None or run_status(run["status"]) is not RunStatus.RUNNING or run["steps"]:
        return False
    _send(storage, StepMessage.from_json(run["first_message"]), delay_seconds=delay_seconds)
    return True


def resend_step(storage: Storage, run_id: str, step: str, detail: str) -> bool:
    """Send a step's message again for a step stuck in "running" (its worker died or the message
    was lost), or for the first step of a running run that never began (the first message was lost
    between `start_run`'s two writes); restarts its clock and counts the resend on the step.
    False if no longer stuck."""
    resent = {"value": False}

    def change(run):
        steps = run["steps"]
        never_began = not steps and step == run["steps_planned"][0]
        stuck = step_status(steps.get(step)) is StepStatus.RUNNING
        resent["value"] = run_status(run["status"]) is RunStatus.RUNNING and (stuck or never_began)
        if resent["value"]:
            entry = steps.setdefault(step, {"status": StepStatus.RUNNING})
            entry["resent"] = entry.get("resent", 0) + 1
            entry["started"] = utcnow()
            run["updated"] = utcnow()
            _event(run, step, StepStatus.RUNNING, detail)
        return run

    run = storage.update_json(names.RUNS, run_blob(run_id), change, create=False)
    if run is not None and resent["value"]:
        message = message_for_step(run, step)
        _send(storage, replace(message, attempt=run["steps"][step]["resent"] + 1))
    return run is not None and resent["value"]


def _event(run: dict[str, Any], step: str | None, status: str, detail: str) -> None:
    run["events"].append({"at": utcnow(), "step": step, "status": status, "detail": detail})


def _seconds_between(start: str, end: str) -> float:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def poison(storage: Storage, queue: str, body: str, reason: str, run_id: str | None = None) -> None:
    """Move a message that cannot be processed to `<queue>-poison` with the reason, and record the
    reason on its run when the run is known (a malformed run id names no run). Nothing is lost: the
    original body is kept."""
    storage.send(f"{queue}-poison", json.dumps({"reason": reason, "queue": queue, "at": utcnow(), "body": body}))
    if run_id and RUN_ID.match(run_id):
        stop_run(storage, run_id, None, RunStatus.FAILED, f"bad message on {queue}: {reason}")


class UnknownRun(NotFound):
    """No run with this id."""


class NotWaiting(StateConflict):
    """A decision arrived for a run that is not waiting for one; the message says what state it is in."""


@dataclass(frozen=True)
class Decision:
    run: dict[str, Any]
    sent: str | None  # the step enqueued, if any
    repeated: bool  # the same decision had been recorded before


def decide(storage: Storage, run_id: str, step: str, *, approved: bool, by: str, reason: str,
           identity: dict[str, Any] | None = None) -> Decision:
    """Record a person's decision on a step that waits (approval) and resume or end the run.

    Approved: the step succeeds and the next step of the plan is sent. Rejected: the run ends
    "rejected". Repeating the same decision changes nothing (and re-sends a next step that never
    began, so a crash between the two writes loses nothing); a run not waiting raises NotWaiting.
    """
    wanted = StepStatus.SUCCEEDED if approved else StepStatus.REJECTED
    outcome = {"repeated": False}

    def change(run):
        entry = run["steps"].get(step, {})
        if step_status(entry) is wanted:
            outcome["repeated"] = True
            return run
        if run_status(run["status"]) is not RunStatus.WAITING:
            raise NotWaiting(f"run {run_id} is {run['status']}, not waiting for {step}.")
        now = utcnow()
        run["steps"][step] = {"status": wanted, "finished": now, "by": by, "reason": reason,
                              "detail": f"{'approved' if approved else 'rejected'} by {by}: {reason}"}
        if identity is not None:
            run["steps"][step]["identity"] = dict(identity)
        run["status"] = RunStatus.RUNNING if approved else RunStatus.REJECTED
        run["updated"] = now
        _event(run, step, wanted, run["steps"][step]["detail"])
        if not approved:
            _skip_pending(run, f"not run: the run was rejected at {step}")
        return run

    run = storage.update_json(names.RUNS, run_blob(run_id), change, create=False)
    if run is None:
        raise UnknownRun(f"run {run_id} does not exist.")
    sent = None
    following = plans.next_step(run["plan"], step) if approved else None
    if following is not None and following not in run["steps"] and run_status(run["status"]) is RunStatus.RUNNING:
        _send(storage, message_for_step(run, following))
        sent = following
    return Decision(run, sent, outcome["repeated"])

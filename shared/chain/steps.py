"""The step adapter: what every queue-triggered step does around its own work.

`run_step` takes one queue message and a step's core function (`Work`), and:
1. parses the `StepMessage`; a malformed one, one for another step, or one naming an invalid model
   goes to `<queue>-poison` with the reason (recorded on its run when the run id could be read);
2. binds the run's fields to every log record (`shared.platform.logs`) and opens the step's span,
   child of the message's traceparent (`shared.platform.tracing`), for everything below;
   takes the step's lease and marks it begun (`runs.begin_step`): a redelivered message for a finished
   step, or for a run that is over, is acknowledged and does nothing; a copy of a step that another
   worker holds the lease of, or a message ahead of its step, is put back on the queue with a delay;
   a message for a run that does not exist goes to `<queue>-poison` with that reason;
3. calls the work under a heartbeat that renews the lease and a meter (`shared.platform.usage`); the
   work completes the step itself (`runs.complete_step`, or pauses for approval), and that write records
   the step's compute on the run; if the work raises, the lease is released first;
4. a `StopRun` from the work ends the run with its reason (and the user code's traceback) and a
   `run.failed` / `run.rejected` notification, logged at ERROR (failed) or WARNING (rejected) with the
   run id, since the host sees a normal return. Any other exception propagates, so the host retries
   the message; on its last delivery (`shared.platform.dequeue`: the host's dequeue count reached
   maxDequeueCount) the adapter poisons it itself instead: `<queue>-poison` gets the body and the
   error, and the run ends failed at this step with the error and its traceback (and `run.failed`),
   so the reason is on the run, nothing else runs, and the host, seeing a normal return, deletes
   the message rather than copying it to the poison queue without a reason.

The work functions live with their capability (`shared.model.retrain`, `registry`, `gates`,
`deploy`); this module knows none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from shared.chain import notify, runs
from shared.chain.states import RunStatus, StopRun, run_status, step_status
from shared.platform import dequeue, logs, tracing, usage
from shared.platform.names import check_model_name
from shared.platform.errors import BadRequest, InvalidMessage
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage

log = logging.getLogger(__name__)

Work = Callable[[Storage, Settings, StepMessage], None]


class StepAction(StrEnum):
    DONE = "done"  # the work ran and completed (or paused) the step
    STOPPED = "stopped"  # the work ended the run (StopRun)
    ACKNOWLEDGED = "acknowledged"  # nothing to do: step finished already, run over or waiting
    DEFERRED = "deferred"  # put back on the queue: ahead of its step, or another copy holds the lease
    POISONED = "poisoned"  # the message could not be processed


@dataclass(frozen=True)
class StepOutcome:
    action: StepAction
    detail: str = ""
    run_id: str | None = None


def run_step(storage: Storage, settings: Settings, queue: str, step: str, body: str, work: Work,
             dequeue_count: int | None = None) -> StepOutcome:
    """Handle one delivery of a step message; `dequeue_count` is the host's (None: not from the host)."""
    try:
        message = StepMessage.from_json(body)
        if message.step != step:
            raise InvalidMessage(f"step {message.step!r} arrived on the {queue} queue, which carries {step!r}.",
                                 message.run_id)
        check_model_name(message.model)
        runs.check_run_id(message.run_id)
    except InvalidMessage as error:
        runs.poison(storage, queue, body, error.reason, error.run_id)
        return StepOutcome(StepAction.POISONED, error.reason, error.run_id)
    except BadRequest as error:
        runs.poison(storage, queue, body, error.message, message.run_id)
        return StepOutcome(StepAction.POISONED, error.message, message.run_id)
    with logs.bound(message.run_id, step, message.model), tracing.step_span(message):
        try:
            return _begin_and_work(storage, settings, queue, body, message, work)
        except Exception as error:
            if not dequeue.last_attempt(dequeue_count):
                raise
            return _exhausted(storage, queue, body, message, error, dequeue_count or 0)


def _begin_and_work(storage: Storage, settings: Settings, queue: str, body: str, message: StepMessage,
                    work: Work) -> StepOutcome:
    step = message.step
    begin = runs.begin_step(storage, message, lease_seconds=settings.step_lease_seconds)
    if begin.run is None:  # no record: nothing can run, and nothing may be lost
        reason = f"run {message.run_id} does not exist; no {step} step can run for it."
        runs.poison(storage, queue, body, reason)
        log.error("run %s step %s: poisoned: %s", message.run_id, step, reason)
        return StepOutcome(StepAction.POISONED, reason, message.run_id)
    if begin.defer_seconds is not None:
        runs.defer(storage, message, begin.defer_seconds)
        log.info("run %s step %s: deferred %d s (%s)", message.run_id, step, begin.defer_seconds, begin.why)
        return StepOutcome(StepAction.DEFERRED, begin.why, message.run_id)
    if not begin.proceed or begin.token is None:
        log.info("run %s step %s: nothing to do (%s)", message.run_id, step, begin.why)
        return StepOutcome(StepAction.ACKNOWLEDGED, begin.why, message.run_id)
    # what the work uses is recorded by the write that completes or stops the step
    with usage.metered():
        try:
            with runs.heartbeat(storage, message, begin.token, settings.step_lease_seconds):
                work(storage, settings, message)
        except StopRun as stop:
            stop_at_step(storage, message, stop)
            return StepOutcome(StepAction.STOPPED, stop.reason, message.run_id)
        except Exception:
            runs.release_lease(storage, message, begin.token)  # the host's retry may take the step at once
            raise
    log.info("run %s step %s: done", message.run_id, step)
    return StepOutcome(StepAction.DONE, "", message.run_id)


def _exhausted(storage: Storage, queue: str, body: str, message: StepMessage, error: Exception,
               attempts: int) -> StepOutcome:
    """The last delivery failed too: poison the message with the error, and end the run failed at this
    step with it (unless the run or the step was over already: then only an event notes it)."""
    import traceback

    reason = (f"step {message.step} raised {type(error).__name__}: {error} on each of {attempts} deliveries "
              f"of its message (maxDequeueCount {dequeue.max_dequeue_count()}); the message is in {queue}-poison.")
    runs.poison(storage, queue, body, reason)
    run = runs.get_run(storage, message.run_id)
    if run is not None and not run_status(run["status"]).final and not step_status(run["steps"].get(message.step)).final:
        trace = "".join(traceback.format_exception(error))
        stop_at_step(storage, message, StopRun(RunStatus.FAILED, reason, traceback=trace))  # logs it at ERROR
    else:
        if run is not None:
            runs.add_event(storage, message.run_id, f"a copy of the {message.step} message was poisoned: {reason}")
        log.error("run %s step %s: poisoned: %s", message.run_id, message.step, reason)
    return StepOutcome(StepAction.POISONED, reason, message.run_id)


def stop_at_step(storage: Storage, message: StepMessage, stop: StopRun) -> None:
    """End the run at this step with the StopRun's status, reason, outputs and traceback, and notify.

    The trigger then returns normally (a permanent failure must not be redelivered), so the host logs
    the invocation "Succeeded"; what failed is logged here: a failed step at ERROR, a rejected one at
    WARNING, a skipped one at INFO, each with the run id, the step and the reason."""
    runs.stop_run(storage, message.run_id, message.step, stop.status, stop.reason, stop.outputs, stop.traceback)
    if stop.status in (RunStatus.REJECTED, RunStatus.FAILED):
        notify.enqueue(storage, f"run.{stop.status}", model=message.model, run_id=message.run_id,
                       key=message.step, data={"step": message.step, "reason": stop.reason, **stop.outputs})
    level = {RunStatus.FAILED: logging.ERROR, RunStatus.REJECTED: logging.WARNING}.get(stop.status, logging.INFO)
    log.log(level, "run %s step %s %s: %s", message.run_id, message.step, stop.status.upper(), stop.reason)

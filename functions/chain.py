"""Queue triggers of the model lifecycle chain: retrain -> register -> test -> [approve] -> deploy, and notify.

Each trigger parses the StepMessage (a malformed one goes to `<queue>-poison` with the reason),
marks the step begun (a redelivered message for a finished step is acknowledged and does nothing),
calls ONE core function, and records the outcome: `complete_step` enqueues the next step; a StopRun
(failed gate, no data) ends the run with its reason and a notification. Any other exception
propagates so the host retries the message, and poisons it after maxDequeueCount.
"""

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import azure.functions as func

from shared.platform import names

if TYPE_CHECKING:
    from shared.platform.messages import StepMessage

bp = func.Blueprint()
log = logging.getLogger(__name__)
CONNECTION = "AzureWebJobsStorage"


def _run_step(queue: str, step: str, msg: func.QueueMessage, work: Callable[["StepMessage"], None]) -> None:
    from shared.chain import (
        notify,
        runs,  # the core loads on first use, not at indexing
    )
    from shared.model import registry
    from shared.platform import context
    from shared.platform.errors import InvalidMessage, StopRun
    from shared.platform.messages import StepMessage

    storage = context.storage()
    body = msg.get_body().decode("utf-8", errors="replace")
    try:
        message = StepMessage.from_json(body)
        if message.step != step:
            raise InvalidMessage(f"step {message.step!r} arrived on the {queue} queue, which carries {step!r}.",
                                 message.run_id)
        registry.check_name(message.model)
    except InvalidMessage as error:
        runs.poison(storage, queue, body, error.reason, error.run_id)
        return
    except ValueError as error:
        runs.poison(storage, queue, body, str(error), message.run_id)
        return
    begin = runs.begin_step(storage, message)
    if not begin.proceed:
        log.info("run %s step %s: nothing to do (%s)", message.run_id, step, begin.why)
        return
    try:
        work(message)
    except StopRun as stop:
        runs.stop_run(storage, message.run_id, message.step, stop.status, stop.reason, stop.outputs)
        if stop.status in ("rejected", "failed"):
            notify.enqueue(storage, f"run.{stop.status}", model=message.model, run_id=message.run_id,
                           key=step, data={"step": step, "reason": stop.reason, **stop.outputs})
        log.warning("run %s stopped at %s: %s", message.run_id, step, stop.reason)


@bp.function_name("retrain")
@bp.queue_trigger(arg_name="msg", queue_name=names.RETRAIN_QUEUE, connection=CONNECTION)
def retrain(msg: func.QueueMessage) -> None:
    from shared.chain import runs
    from shared.model import training
    from shared.platform import context

    def work(message: "StepMessage") -> None:
        outputs = training.retrain(context.storage(), context.settings(), message)
        if outputs is not None:  # None: handed to an Azure ML job, which completes the step
            runs.complete_step(context.storage(), message, outputs)

    _run_step(names.RETRAIN_QUEUE, "retrain", msg, work)


@bp.function_name("register")
@bp.queue_trigger(arg_name="msg", queue_name=names.REGISTER_QUEUE, connection=CONNECTION)
def register(msg: func.QueueMessage) -> None:
    from shared.chain import runs
    from shared.model import registry
    from shared.platform import context

    def work(message: "StepMessage") -> None:
        runs.complete_step(context.storage(), message, registry.register_run(context.storage(), message))

    _run_step(names.REGISTER_QUEUE, "register", msg, work)


@bp.function_name("test")
@bp.queue_trigger(arg_name="msg", queue_name=names.TEST_QUEUE, connection=CONNECTION)
def test(msg: func.QueueMessage) -> None:
    from shared.chain import approvals, runs
    from shared.model import gates
    from shared.platform import context

    def work(message: "StepMessage") -> None:
        storage, settings = context.storage(), context.settings()
        outputs = gates.run_gates(storage, settings, message)
        if settings.approval_required:
            approvals.request(storage, settings, message, outputs)
        else:
            runs.complete_step(storage, message, outputs)

    _run_step(names.TEST_QUEUE, "test", msg, work)


@bp.function_name("deploy")
@bp.queue_trigger(arg_name="msg", queue_name=names.DEPLOY_QUEUE, connection=CONNECTION)
def deploy_step(msg: func.QueueMessage) -> None:
    from shared.chain import runs
    from shared.model import deploy
    from shared.platform import context

    def work(message: "StepMessage") -> None:
        storage = context.storage()
        runs.complete_step(storage, message, deploy.deploy_version(storage, context.settings(), message))

    _run_step(names.DEPLOY_QUEUE, "deploy", msg, work)


@bp.function_name("notify")
@bp.queue_trigger(arg_name="msg", queue_name=names.NOTIFY_QUEUE, connection=CONNECTION)
def notify_step(msg: func.QueueMessage) -> None:
    from shared.chain import notify, runs
    from shared.platform import context

    body = msg.get_body().decode("utf-8", errors="replace")
    try:
        notification = notify.Notification.from_json(body)
    except notify.InvalidNotification as error:
        runs.poison(context.storage(), names.NOTIFY_QUEUE, body, str(error))
        return
    outcome = notify.deliver(context.settings(), notification)
    log.info("notification %s %s: %s", notification.event, notification.delivery, outcome)

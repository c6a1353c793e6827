"""Queue triggers of the chain: fetch -> unit_test -> retrain -> register -> test -> [approve] -> deploy, and notify.

Each step trigger hands its message to `shared.chain.steps.run_step` with the step's core function
from `shared.model.steps` and the message's dequeue count: the adapter poisons a malformed message
or one for an unknown run, acknowledges a redelivered one, and records a StopRun; any other exception
propagates so the host retries the message, until its last delivery (maxDequeueCount), which the
adapter poisons itself with the reason, recorded on the run. The notify trigger does the same with a
notification that keeps failing (the reason noted on its run, whose state it does not change).
"""

import azure.functions as func

from shared.platform import names

bp = func.Blueprint()
CONNECTION = "AzureWebJobsStorage"


def _run(queue: str, step: str, msg: func.QueueMessage) -> None:
    from shared.chain import steps  # the core loads on first use, not at indexing
    from shared.model import steps as model_steps
    from shared.platform import context

    work = {
        "fetch": model_steps.fetch_step,
        "unit_test": model_steps.unit_test_step,
        "retrain": model_steps.retrain_step,
        "register": model_steps.register_step,
        "test": model_steps.test_step,
        "deploy": model_steps.deploy_step,
    }[step]
    body = msg.get_body().decode("utf-8", errors="replace")
    steps.run_step(context.storage(), context.settings(), queue, step, body, work, msg.dequeue_count)


@bp.function_name("fetch")
@bp.queue_trigger(arg_name="msg", queue_name=names.FETCH_QUEUE, connection=CONNECTION)
def fetch(msg: func.QueueMessage) -> None:
    _run(names.FETCH_QUEUE, "fetch", msg)


@bp.function_name("unit_test")
@bp.queue_trigger(arg_name="msg", queue_name=names.UNIT_TEST_QUEUE, connection=CONNECTION)
def unit_test(msg: func.QueueMessage) -> None:
    _run(names.UNIT_TEST_QUEUE, "unit_test", msg)


@bp.function_name("retrain")
@bp.queue_trigger(arg_name="msg", queue_name=names.RETRAIN_QUEUE, connection=CONNECTION)
def retrain(msg: func.QueueMessage) -> None:
    _run(names.RETRAIN_QUEUE, "retrain", msg)


@bp.function_name("register")
@bp.queue_trigger(arg_name="msg", queue_name=names.REGISTER_QUEUE, connection=CONNECTION)
def register(msg: func.QueueMessage) -> None:
    _run(names.REGISTER_QUEUE, "register", msg)


@bp.function_name("test")
@bp.queue_trigger(arg_name="msg", queue_name=names.TEST_QUEUE, connection=CONNECTION)
def test(msg: func.QueueMessage) -> None:
    _run(names.TEST_QUEUE, "test", msg)


@bp.function_name("deploy")
@bp.queue_trigger(arg_name="msg", queue_name=names.DEPLOY_QUEUE, connection=CONNECTION)
def deploy(msg: func.QueueMessage) -> None:
    _run(names.DEPLOY_QUEUE, "deploy", msg)


@bp.function_name("notify")
@bp.queue_trigger(arg_name="msg", queue_name=names.NOTIFY_QUEUE, connection=CONNECTION)
def notify(msg: func.QueueMessage) -> None:
    from shared.chain import notify as core
    from shared.platform import context

    body = msg.get_body().decode("utf-8", errors="replace")
    core.handle(context.storage(), context.settings(), body, msg.dequeue_count)  # logs its outcome

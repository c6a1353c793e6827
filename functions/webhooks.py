"""Repository webhooks: GitHub and Azure DevOps deliveries in, runs started from the push queue.

The HTTP functions answer within GitHub's 10 s limit (verify, de-duplicate, enqueue: 202); the
queue function routes the changed paths and starts or releases runs. The HMAC (GitHub) or the
shared secret (Azure DevOps) is the authentication, hence anonymous function auth.
"""

import logging

import azure.functions as func

from functions.answers import respond
from shared.platform import names

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("hooks_github")
@bp.route(route="hooks/github", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def hooks_github(req: func.HttpRequest) -> func.HttpResponse:
    return _receive("github", req)


@bp.function_name("hooks_azure_devops")
@bp.route(route="hooks/azure-devops", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def hooks_azure_devops(req: func.HttpRequest) -> func.HttpResponse:
    return _receive("azure-devops", req)


@bp.function_name("on_push")
@bp.queue_trigger(arg_name="msg", queue_name=names.PUSH_QUEUE, connection="AzureWebJobsStorage")
def on_push(msg: func.QueueMessage) -> None:
    from shared.chain import runs  # the core loads on first use, not at indexing
    from shared.events import intake
    from shared.events.routing import RoutingError
    from shared.platform import context, dequeue
    from shared.platform.errors import InvalidMessage

    body = msg.get_body().decode("utf-8", errors="replace")
    storage = context.storage()
    try:
        outcome = intake.process(storage, context.settings(), body)
    except (InvalidMessage, RoutingError) as error:
        log.error("push message not processed: %s", error)
        runs.poison(storage, names.PUSH_QUEUE, body, str(error))
        return
    except Exception as error:
        if not dequeue.last_attempt(msg.dequeue_count):
            raise  # the host retries it
        log.error("push message poisoned: %s", intake.give_up(storage, body, error, msg.dequeue_count or 0))
        return
    log.info("delivery %s: %s (%s) %s", outcome.delivery, outcome.action, outcome.detail, ",".join(outcome.run_ids))


def _receive(provider: str, req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.events import intake
        from shared.platform import context

        return intake.receive(context.storage(), context.settings(), provider, dict(req.headers), req.get_body())

    return respond(f"hooks_{provider}", call, req, webhook=True)

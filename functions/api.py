"""HTTP API: health, score, feedback, and look-ups of models and runs.

Each handler parses the request, calls one function of the core and turns its answer (or its
`RequestError`, which carries the status) into JSON. The core modules are imported inside the
handlers so that importing the app stays light (see tests/test_cold_start.py).
"""

import json
import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


def _json(body, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json", headers=headers)


def _error(status: int, message: str) -> func.HttpResponse:
    return _json({"error": message}, status)


def _body(req: func.HttpRequest):
    """The parsed JSON body, or None when it is not JSON."""
    try:
        return req.get_json()
    except ValueError:
        return None


def _answer(call) -> func.HttpResponse:
    """Run a look-up and map its RequestError to the status it names."""
    from shared.serving.scoring import RequestError

    try:
        return _json(call())
    except RequestError as error:
        return _error(error.status, error.message)


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"status": "ok"}), mimetype="application/json")


@bp.function_name("score")
@bp.route(route="score", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def score(req: func.HttpRequest) -> func.HttpResponse:
    from shared.serving import scoring

    body = _body(req)
    if body is None:
        return _error(400, "the body must be JSON: {\"records\": [{...}, ...]} or a list of records.")
    try:
        result = scoring.instance().score(body, request_key=req.headers.get("X-Request-Key"))
    except scoring.RequestError as error:
        if error.status >= 500:
            log.error("score failed: %s", error.message)
        return _error(error.status, error.message)
    return _json(result.to_dict(), headers={"X-Model-Version": str(result.version)})


@bp.function_name("feedback")
@bp.route(route="feedback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def feedback(req: func.HttpRequest) -> func.HttpResponse:
    from shared.serving import feedback as core
    from shared.serving import scoring

    body = _body(req)
    if body is None:
        return _error(400, "the body must be JSON: {\"request_id\": ..., \"labels\": [...]}.")
    try:
        result = core.record(scoring.instance(), body)
    except scoring.RequestError as error:
        return _error(error.status, error.message)
    return _json(result, 201 if result["written"] else 200)


@bp.function_name("model_overview")
@bp.route(route="models/{name}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def model_overview(req: func.HttpRequest) -> func.HttpResponse:
    from shared.platform import context
    from shared.serving import lookups

    return _answer(lambda: lookups.model_overview(context.storage(), req.route_params["name"]))


@bp.function_name("model_lineage")
@bp.route(route="models/{name}/lineage", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def model_lineage(req: func.HttpRequest) -> func.HttpResponse:
    from shared.platform import context
    from shared.serving import lookups

    return _answer(lambda: lookups.serving_lineage(context.storage(), req.route_params["name"]))


@bp.function_name("run_timeline")
@bp.route(route="runs/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def run_timeline(req: func.HttpRequest) -> func.HttpResponse:
    from shared.platform import context
    from shared.serving import lookups

    return _answer(lambda: lookups.run_timeline(context.storage(), req.route_params["run_id"]))

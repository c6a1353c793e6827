"""HTTP API: health, the OpenAPI description, score, feedback, and look-ups of models and runs.

Every route of the app is described in `functions/openapi.json` (OpenAPI 3.1), served at
GET /api/openapi.json; tests/api/test_openapi.py checks it against the routes the app registers.
Each handler parses the request, calls one function of the core and returns its answer through
`functions.answers.respond`, which maps every error to the same status on every route. The core
modules are imported inside the handlers so that importing the app stays light
(see tests/test_cold_start.py).
"""

import functools
from pathlib import Path

import azure.functions as func

from functions.answers import json_body, respond

bp = func.Blueprint()
OPENAPI = Path(__file__).with_name("openapi.json")


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform import context
        from shared.serving import health

        return health.report(context.storage(), context.settings())

    return respond("health", call)


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(_openapi_text(), status_code=200, mimetype="application/json")


@functools.cache
def _openapi_text() -> str:
    return OPENAPI.read_text(encoding="utf-8")


@bp.function_name("score")
@bp.route(route="score", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def score(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform.errors import Answer
        from shared.serving import scoring

        body = json_body(req, '{"records": [{...}, ...]} or a list of records')
        result = scoring.instance().score(body, request_key=req.headers.get("X-Request-Key"))
        return Answer(200, result.to_dict(), {"X-Model-Version": str(result.version)})

    return respond("score", call, req)


@bp.function_name("feedback")
@bp.route(route="feedback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def feedback(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform.errors import Answer
        from shared.serving import feedback, scoring

        body = json_body(req, '{"request_id": ..., "labels": [...]}')
        result = feedback.record(scoring.instance(), body)
        return Answer(201 if result["written"] else 200, result)

    return respond("feedback", call, req)


@bp.function_name("model_list")
@bp.route(route="models", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def model_list(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform import context
        from shared.serving import lookups

        return lookups.list_models(context.storage())

    return respond("model_list", call, req)


@bp.function_name("model_overview")
@bp.route(route="models/{name}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def model_overview(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform import context
        from shared.serving import lookups

        return lookups.model_overview(context.storage(), req.route_params["name"])

    return respond("model_overview", call, req)


@bp.function_name("model_lineage")
@bp.route(route="models/{name}/lineage", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def model_lineage(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform import context
        from shared.serving import lookups

        return lookups.serving_lineage(context.storage(), req.route_params["name"])

    return respond("model_lineage", call, req)


@bp.function_name("run_list")
@bp.route(route="runs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def run_list(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform import context
        from shared.serving import lookups

        return lookups.list_runs(context.storage(), status=req.params.get("status") or None,
                                 model=req.params.get("model") or None, limit=req.params.get("limit"),
                                 rates=context.settings().cost)

    return respond("run_list", call, req)


@bp.function_name("run_timeline")
@bp.route(route="runs/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def run_timeline(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform import context
        from shared.serving import lookups

        return lookups.run_timeline(context.storage(), req.route_params["run_id"], context.settings().cost)

    return respond("run_timeline", call, req)

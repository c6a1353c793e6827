"""HTTP API: health, score, feedback, and look-ups of models and runs.

Each handler parses the request, calls one function of the core and returns its answer through
`functions.answers.respond`, which maps every error to the same status on every route. The core
modules are imported inside the handlers so that importing the app stays light
(see tests/test_cold_start.py).
"""

import azure.functions as func

from functions.answers import json_body, json_response, respond

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"status": "ok"})  # constant, reads no setting: liveness even with bad settings


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


@bp.function_name("run_timeline")
@bp.route(route="runs/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def run_timeline(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.platform import context
        from shared.serving import lookups

        return lookups.run_timeline(context.storage(), req.route_params["run_id"])

    return respond("run_timeline", call, req)

"""HTTP API: health now; score, feedback, models, runs and approvals join as they land."""

import json

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"status": "ok"}), mimetype="application/json")

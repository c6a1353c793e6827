"""HTTP decisions by people: approve or reject a waiting run, roll a model back.

POST /api/runs/{run_id}/approve   {"by": "...", "reason": "..."}  -> 200, deploy enqueued
POST /api/runs/{run_id}/reject    {"by": "...", "reason": "..."}  -> 200, run rejected
POST /api/models/{name}/rollback  {"by": "...", "reason": "..."}  -> 200, production = previous
400 names a missing or malformed field; 404 unknown run or model; 409 run not waiting for approval
(or expired), or no previous version to roll back to. Function-key auth.
"""

import json
import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


def _reply(status: int, body: dict) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def _decision_body(req: func.HttpRequest) -> tuple[dict | None, func.HttpResponse | None]:
    try:
        body = req.get_json()
    except ValueError:
        return None, _reply(400, {"error": "the body must be a JSON object with 'by' and 'reason'."})
    if not isinstance(body, dict):
        return None, _reply(400, {"error": "the body must be a JSON object with 'by' and 'reason'."})
    missing = [key for key in ("by", "reason") if not isinstance(body.get(key), str) or not body[key].strip()]
    if missing:
        return None, _reply(400, {"error": f"missing or empty field(s): {', '.join(missing)}.", "missing": missing})
    return {"by": body["by"].strip(), "reason": body["reason"].strip()}, None


def _decide(req: func.HttpRequest, approved: bool) -> func.HttpResponse:
    from shared.chain import (
        approvals,
        runs,  # the core loads on first use, not at indexing
    )
    from shared.platform import context

    body, problem = _decision_body(req)
    if problem is not None:
        return problem
    run_id = req.route_params.get("run_id", "")
    try:
        decision = approvals.decide(context.storage(), context.settings(), run_id, approved=approved, **body)
    except runs.UnknownRun as error:
        return _reply(404, {"error": str(error)})
    except runs.NotWaiting as error:
        return _reply(409, {"error": str(error)})
    return _reply(200, {
        "run_id": run_id,
        "status": decision.run["status"],
        "decision": "approved" if approved else "rejected",
        "by": body["by"],
        "repeated": decision.repeated,
        "next": decision.sent,
    })


@bp.function_name("approve_run")
@bp.route(route="runs/{run_id}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def approve_run(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, approved=True)


@bp.function_name("reject_run")
@bp.route(route="runs/{run_id}/reject", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def reject_run(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, approved=False)


@bp.function_name("rollback_model")
@bp.route(route="models/{name}/rollback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def rollback_model(req: func.HttpRequest) -> func.HttpResponse:
    from shared.chain import notify
    from shared.model import registry
    from shared.platform import context

    body, problem = _decision_body(req)
    if problem is not None:
        return problem
    model = req.route_params.get("name", "")
    storage = context.storage()
    try:
        registry.check_name(model)
    except ValueError as error:
        return _reply(400, {"error": str(error)})
    if not registry.aliases(storage, model)[0]["aliases"]:
        return _reply(404, {"error": f"model {model} has no deployed version."})
    try:
        document = registry.rollback(storage, model, why=body["reason"], by=body["by"])
    except registry.NoPrevious as error:
        return _reply(409, {"error": str(error)})
    production = document["aliases"]["production"]["version"]
    notify.enqueue(storage, "model.rolled_back", model=model, data={
        "alias": "production", "version": production, "by": body["by"], "reason": body["reason"],
    })
    return _reply(200, {"model": model, "production": production, "aliases": document["aliases"]})

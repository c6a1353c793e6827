"""HTTP decisions by people: approve or reject a waiting run, promote or roll back a model, retrain.

POST /api/runs/{run_id}/approve[?token=...]  {"reason": "..."}  -> 200, deploy enqueued
POST /api/runs/{run_id}/reject[?token=...]   {"reason": "..."}  -> 200, run rejected
POST /api/models/{name}/rollback  {"by", "reason", ["version"]}   -> 200, production = previous (or version)
POST /api/models/{name}/promote   {"by", "reason", "version"}     -> 200, production = version
POST /api/models/{name}/retrain   {"by", "reason", ["request_id"]} -> 202 with the run id (200: same request)
Approve and reject record the authenticated approver (`shared.chain.approvers`: the App Service
principal headers, or the signed link's token, as `?token=` or `X-Driftline-Approval-Token`); a `by`
in the body is ignored. They are anonymous at the Functions level (a link must work without a function
key): the identity is the authentication, 401 without one, 403 for one not in DRIFTLINE_APPROVERS.
400 names a missing or malformed field, id or name; 404 unknown run, model or version; 409 run not
waiting for approval (or expired), nothing to roll back to, or the version serves already.
Rollback, promote and retrain: function-key auth; who asked is the App Service principal where
DRIFTLINE_TRUST_APP_SERVICE_AUTH is on (allowed by DRIFTLINE_APPROVERS), else the body's `by`, recorded
as given by a function-key holder (`approvers.operator_identity`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from functions.answers import json_body, respond

if TYPE_CHECKING:
    from shared.chain.approvers import Identity

bp = func.Blueprint()
EXPECTED = "a JSON object with 'by' and 'reason'"


def _decision_body(req: func.HttpRequest) -> tuple[dict, Identity]:
    """The body, its reason stripped, and who asks (shared.chain.approvers.Identity)."""
    from shared.chain import approvers
    from shared.platform import context
    from shared.platform.errors import BadRequest

    body = json_body(req, EXPECTED)
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be {EXPECTED}.")
    if not isinstance(body.get("reason"), str) or not body["reason"].strip():
        raise BadRequest("missing or empty field(s): reason.", missing=["reason"])
    who = approvers.operator_identity(context.settings(), dict(req.headers), body.get("by"))
    return {**body, "reason": body["reason"].strip()}, who


def _version(body: dict) -> int:
    from shared.platform.errors import BadRequest

    value = body.get("version")
    if isinstance(value, float) and value.is_integer():  # 2.0 is an integer in JSON (and the description)
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest("version must be a registered version number (1, 2, ...).", missing=["version"])
    return value


def _reason(req: func.HttpRequest) -> str:
    from shared.platform.errors import BadRequest

    body = json_body(req, "a JSON object with 'reason'")
    if not isinstance(body, dict) or not isinstance(body.get("reason"), str) or not body["reason"].strip():
        raise BadRequest("missing or empty field(s): reason.", missing=["reason"])
    return body["reason"].strip()


def _decide(req: func.HttpRequest, approved: bool) -> func.HttpResponse:
    def call():
        from shared.chain import approvals, runs  # the core loads on first use, not at indexing
        from shared.platform import context

        run_id = runs.check_run_id(req.route_params.get("run_id", ""))
        reason = _reason(req)
        token = req.params.get("token") or req.headers.get("X-Driftline-Approval-Token")
        decision, identity = approvals.decide(context.storage(), context.settings(), run_id, approved=approved,
                                              reason=reason, headers=dict(req.headers), token=token)
        return {
            "run_id": run_id,
            "status": decision.run["status"],
            "decision": "approved" if approved else "rejected",
            "by": identity.name,
            "identity": identity.to_dict(),
            "repeated": decision.repeated,
            "next": decision.sent,
        }

    return respond("approve_run" if approved else "reject_run", call, req)


@bp.function_name("approve_run")
@bp.route(route="runs/{run_id}/approve", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def approve_run(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, approved=True)


@bp.function_name("reject_run")
@bp.route(route="runs/{run_id}/reject", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def reject_run(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, approved=False)


@bp.function_name("rollback_model")
@bp.route(route="models/{name}/rollback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def rollback_model(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.model import deploy
        from shared.platform import context

        body, who = _decision_body(req)
        return deploy.rollback_production(context.storage(), req.route_params.get("name", ""), by=who,
                                          reason=body["reason"],
                                          version=None if body.get("version") is None else _version(body))

    return respond("rollback_model", call, req)


@bp.function_name("promote_model")
@bp.route(route="models/{name}/promote", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def promote_model(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.model import deploy
        from shared.platform import context

        body, who = _decision_body(req)
        return deploy.promote_version(context.storage(), req.route_params.get("name", ""), _version(body),
                                      by=who, reason=body["reason"])

    return respond("promote_model", call, req)


@bp.function_name("retrain_model")
@bp.route(route="models/{name}/retrain", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def retrain_model(req: func.HttpRequest) -> func.HttpResponse:
    def call():
        from shared.events import manual
        from shared.platform import context

        body, who = _decision_body(req)
        return manual.start_retrain(context.storage(), context.settings(), req.route_params.get("name", ""),
                                    by=who, reason=body["reason"], request_id=body.get("request_id"))

    return respond("retrain_model", call, req, traced=True)

"""Who approves: an authenticated identity, never a name the caller claims.

Two ways to prove who is deciding, both checked before a decision is recorded:
- **App Service authentication** (Entra ID "Easy Auth"), when `DRIFTLINE_TRUST_APP_SERVICE_AUTH` is true:
  the platform authenticates the caller and injects `X-MS-CLIENT-PRINCIPAL` (base64 JSON
  `{"auth_typ", "claims": [{"typ", "val"}], "name_typ", "role_typ"}`), `X-MS-CLIENT-PRINCIPAL-NAME`,
  `-ID` and `-IDP`, and strips those headers from outside requests. Only set the setting where that
  module is on: without it anyone could send the headers, so they are ignored.
- **A one-time signed approval link** per approval request and approver, when `DRIFTLINE_APPROVAL_SECRET`
  is set: `approval.requested` carries, for each of `DRIFTLINE_APPROVERS`, an approve and a reject link
  whose `token` is `<base64url JSON {run, act, who, req, exp}>.<HMAC-SHA256 hex>`; it is valid for that
  run, that action and that request only, until the request expires, and once (its hash is recorded
  when used).
`DRIFTLINE_APPROVERS` (comma-separated names or object ids, case-insensitive) lists who may decide; when
it is empty, any identity App Service authenticated may. The identity (name, id, how it was proven) is
what the run records.

Promotions, rollbacks and retrains (function-key routes) record who asked the same way
(`operator_identity`): the App Service principal when there is one, allowed by DRIFTLINE_APPROVERS;
otherwise the name the key holder gives, marked `function-key`, since a function key proves that its
holder may operate the app, not who they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from shared.platform import names
from shared.platform.errors import BadRequest, ConditionFailed, Forbidden, Unauthorized
from shared.platform.settings import Settings
from shared.platform.storage import Storage

ACTIONS = ("approve", "reject")
USED_PREFIX = "approval-links/used/"  # in the runs container, apart from the pending markers
# Claim types App Service maps Entra ID tokens to: the object id and the sign-in names.
OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
NAME_CLAIMS = ("preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
               "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "name")


@dataclass(frozen=True)
class Identity:
    name: str  # what the run shows as "by"
    id: str | None  # the identity provider's id for the caller (Entra object id), when known
    source: str  # "app-service:<idp>", "signed-link" or "function-key" (a name given by a key holder)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def app_service_identity(headers: Mapping[str, str]) -> Identity | None:
    """The caller App Service authentication injected, or None when there is no principal header.
    Raises Unauthorized for a principal header that is not base64 JSON with claims."""
    encoded = _header(headers, "X-MS-CLIENT-PRINCIPAL")
    if not encoded:
        return None
    try:
        principal = json.loads(base64.b64decode(encoded.strip(), validate=False))
        claims = {str(c["typ"]): str(c["val"]) for c in principal["claims"]}
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise Unauthorized("the X-MS-CLIENT-PRINCIPAL header is not a base64 JSON principal with claims.") from None
    name_type = principal.get("name_typ") or ""
    name = (_header(headers, "X-MS-CLIENT-PRINCIPAL-NAME") or claims.get(name_type)
            or next((claims[t] for t in NAME_CLAIMS if claims.get(t)), None))
    object_id = _header(headers, "X-MS-CLIENT-PRINCIPAL-ID") or next(
        (claims[t] for t in OBJECT_ID_CLAIMS if claims.get(t)), None)
    if not name and not object_id:
        raise Unauthorized("the authenticated principal names no user (no name or object id claim).")
    provider = _header(headers, "X-MS-CLIENT-PRINCIPAL-IDP") or str(principal.get("auth_typ") or "unknown")
    return Identity(str(name or object_id), object_id, f"app-service:{provider}")


# -- signed links ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).hexdigest()


def link_token(secret: str, run_id: str, action: str, approver: str, requested: str, expires: str) -> str:
    payload = _b64(json.dumps({"run": run_id, "act": action, "who": approver, "req": requested, "exp": expires},
                              separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{payload}.{_signature(secret, payload)}"


def links(settings: Settings, run_id: str, requested: str, expires: str) -> dict[str, dict[str, str]]:
    """For each allowed approver, its approve and reject links (none without DRIFTLINE_APPROVAL_SECRET)."""
    if not settings.approval_secret:
        return {}
    return {who: {action: f"/api/runs/{run_id}/{action}?token="
                          f"{link_token(settings.approval_secret, run_id, action, who, requested, expires)}"
                  for action in ACTIONS}
            for who in settings.approvers}


def link_identity(storage: Storage, settings: Settings, token: str, run_id: str, action: str,
                  pending: Mapping[str, Any] | None, now: datetime) -> Identity:
    """The approver a signed link names, once its signature, run, action, request and expiry check out;
    the link is then spent. Unauthorized otherwise (the message says which check failed)."""
    if not settings.approval_secret:
        raise Unauthorized("approval links are not enabled: DRIFTLINE_APPROVAL_SECRET is not configured.")
    payload, _, signature = token.strip().partition(".")
    expected = _signature(settings.approval_secret, payload) if payload.isascii() else ""
    if not expected or not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise Unauthorized("the approval link's signature does not match.")
    try:
        claims = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        raise Unauthorized("the approval link is malformed.") from None
    if claims.get("run") != run_id or claims.get("act") != action:
        raise Unauthorized(f"this approval link is for {claims.get('act')} of run {claims.get('run')}, "
                           f"not {action} of run {run_id}.")
    if pending is None or claims.get("req") != pending.get("requested"):
        raise Unauthorized("this approval link belongs to an approval request that is no longer pending.")
    if datetime.fromisoformat(str(claims.get("exp"))) <= now:
        raise Unauthorized(f"this approval link expired at {claims.get('exp')}.")
    who = str(claims.get("who") or "")
    try:
        storage.create_json(names.RUNS, f"{USED_PREFIX}{hashlib.sha256(token.encode()).hexdigest()}.json",
                            {"run_id": run_id, "action": action, "who": who, "at": now.isoformat()})
    except ConditionFailed:
        raise Unauthorized("this approval link was used already; each link decides once.") from None
    return Identity(who, None, "signed-link")


# -- who may decide -------------------------------------------------------------------------------


def identify(storage: Storage, settings: Settings, headers: Mapping[str, str], token: str | None, run_id: str,
             action: str, pending: Mapping[str, Any] | None, now: datetime) -> Identity:
    """The authenticated identity deciding, allowed by DRIFTLINE_APPROVERS; Unauthorized (no identity)
    or Forbidden (an identity not allowed)."""
    identity = app_service_identity(headers) if settings.trust_app_service_auth else None
    if identity is None and token:
        identity = link_identity(storage, settings, token, run_id, action, pending, now)
    if identity is None:
        ways = [way for way, on in (("App Service authentication (DRIFTLINE_TRUST_APP_SERVICE_AUTH)",
                                     settings.trust_app_service_auth),
                                    ("a signed approval link (DRIFTLINE_APPROVAL_SECRET)",
                                     bool(settings.approval_secret))) if on]
        raise Unauthorized("a decision needs an authenticated approver: "
                           + (" or ".join(ways) if ways else "no way to authenticate one is configured") + ".")
    if not allowed(settings, identity):
        raise Forbidden(f"{identity.name} is not an allowed approver (DRIFTLINE_APPROVERS).")
    return identity


def operator_identity(settings: Settings, headers: Mapping[str, str], claimed: object) -> Identity:
    """Who asks for a promotion, rollback or retrain: the App Service principal (Forbidden when
    DRIFTLINE_APPROVERS does not list it), else the `by` the function-key holder gives, as such;
    BadRequest when there is neither."""
    identity = app_service_identity(headers) if settings.trust_app_service_auth else None
    if identity is not None:
        if not allowed(settings, identity):
            raise Forbidden(f"{identity.name} is not an allowed approver (DRIFTLINE_APPROVERS).")
        return identity
    if not isinstance(claimed, str) or not claimed.strip():
        raise BadRequest("missing or empty field(s): by.", missing=["by"])
    return Identity(claimed.strip(), None, "function-key")


def allowed(settings: Settings, identity: Identity) -> bool:
    if not settings.approvers:
        return identity.source.startswith("app-service:")
    permitted = {approver.lower() for approver in settings.approvers}
    return identity.name.lower() in permitted or (identity.id or "").lower() in permitted

"""Repository webhook payloads: who sent them, and what they say (pure; no storage, no network).

Two providers:
- GitHub signs the raw body (`X-Hub-Signature-256`) and names the event in `X-GitHub-Event` and the
  delivery in `X-GitHub-Delivery`. GitHub sends no signed timestamp, so a captured delivery could be
  replayed with a valid signature; replay protection is the delivery id: each id is accepted once.
- Azure DevOps service hooks authenticate with a shared secret, as the HTTP basic-auth password (any
  user name) or the `X-Driftline-Secret` header; the body carries `eventType`, `id` (the delivery) and
  `createdDate`, which also bounds the age of a delivery we accept.

Parsing turns a payload into a `Push`, a `CiOutcome` or an `Ignored` with the reason.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.platform import signatures
from shared.platform.errors import BadRequest

GITHUB = "github"
AZURE_DEVOPS = "azure-devops"
PROVIDERS = (GITHUB, AZURE_DEVOPS)

# A GitHub push lists at most 20 commits in some deliveries; at or past that we cannot be sure we
# saw every commit, so the changed files are treated as unknown.
GITHUB_COMMIT_LIMIT = 20
ZERO_SHA = "0" * 40
DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# CI conclusions that end a waiting run; anything else (neutral, skipped, stale) leaves it waiting.
GITHUB_FAILED = ("failure", "timed_out", "cancelled", "action_required", "startup_failure")
ADO_FAILED = ("failed", "canceled", "partiallySucceeded")


class PayloadError(BadRequest):
    """The payload is not what the event promises; the message says what is missing."""


@dataclass(frozen=True)
class Push:
    provider: str
    delivery: str
    repository: str
    branch: str
    before: str
    after: str
    commits: tuple[str, ...]
    changed: tuple[str, ...] | None  # None: the payload cannot list every changed file
    unlisted: str = ""  # why `changed` is None


@dataclass(frozen=True)
class CiOutcome:
    provider: str
    delivery: str
    repository: str
    sha: str
    check: str
    conclusion: str
    success: bool | None  # None: inconclusive (neutral, skipped), the run keeps waiting


@dataclass(frozen=True)
class Ignored:
    reason: str


Event = Push | CiOutcome | Ignored


# -- authentication -------------------------------------------------------------------------------


def github_authentic(secret: str | None, body: bytes, headers: Mapping[str, str]) -> bool:
    return signatures.verify(secret, body, _header(headers, "X-Hub-Signature-256"))


def ado_authentic(secret: str | None, headers: Mapping[str, str]) -> bool:
    """True when the basic-auth password (any user) or `X-Driftline-Secret` equals the secret."""
    if not secret:
        return False
    offered = [_basic_password(_header(headers, "Authorization")), _header(headers, "X-Driftline-Secret")]
    expected = secret.encode("utf-8")
    # Compare both candidates always, so timing does not tell which header was checked.
    matches = [hmac.compare_digest(expected, (value or "").encode("utf-8")) for value in offered]
    return any(matches)


def _basic_password(authorization: str | None) -> str | None:
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] if ":" in decoded else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


# -- GitHub ---------------------------------------------------------------------------------------


def github_event(headers: Mapping[str, str]) -> tuple[str, str]:
    """(event name, delivery id) from the headers; PayloadError when either is missing."""
    event = _header(headers, "X-GitHub-Event")
    delivery = _header(headers, "X-GitHub-Delivery")
    if not event:
        raise PayloadError("X-GitHub-Event header is missing; send it as GitHub does.")
    return event, _delivery(delivery, "X-GitHub-Delivery header")


def parse_github(event: str, delivery: str, body: dict[str, Any], branches: tuple[str, ...]) -> Event:
    if event == "push":
        return _github_push(delivery, body, branches)
    if event in ("workflow_run", "check_suite"):
        return _github_ci(event, delivery, body)
    return Ignored(f"GitHub event {event!r} is not used; subscribe to push and workflow_run")


def _github_push(delivery: str, body: dict[str, Any], branches: tuple[str, ...]) -> Event:
    ref = _required(body, "ref", str)
    if ref.startswith("refs/tags/"):
        return Ignored(f"tag push {ref[len('refs/tags/'):]!r} does not start a run")
    if body.get("deleted") or (body.get("after") == ZERO_SHA):
        return Ignored(f"branch deletion {ref!r} does not start a run")
    branch = _branch(ref, branches)
    if isinstance(branch, Ignored):
        return branch
    commits = body.get("commits") or []
    if not isinstance(commits, list) or not all(isinstance(c, dict) for c in commits):
        raise PayloadError("push payload field 'commits' must be a list of objects.")
    before, after = _required(body, "before", str), _required(body, "after", str)
    changed: tuple[str, ...] | None = None
    if len(commits) >= GITHUB_COMMIT_LIMIT:
        unlisted = f"the payload lists {len(commits)} commits, GitHub's limit, so some may be missing"
    elif not commits and before != after:
        unlisted = "the payload lists no commits for a push that moved the branch (new branch or force push)"
    elif body.get("head_commit") is None and before != after:
        unlisted = "the payload has no head commit"
    else:
        unlisted = ""
        changed = tuple(
            sorted({path for c in commits for key in ("added", "modified", "removed") for path in c.get(key) or []})
        )
    return Push(
        provider=GITHUB,
        delivery=delivery,
        repository=str((body.get("repository") or {}).get("full_name") or ""),
        branch=branch,
        before=before,
        after=after,
        commits=tuple(str(c.get("id", "")) for c in commits),
        changed=changed,
        unlisted=unlisted,
    )


def _github_ci(event: str, delivery: str, body: dict[str, Any]) -> Event:
    if body.get("action") != "completed":
        return Ignored(f"{event} action {body.get('action')!r} is not a completion")
    detail = body.get(event)
    if not isinstance(detail, dict):
        raise PayloadError(f"{event} payload has no {event!r} object.")
    sha = _required(detail, "head_sha", str)
    conclusion = str(detail.get("conclusion") or "")
    check = str(detail.get("name") or (detail.get("app") or {}).get("name") or event)
    success = True if conclusion == "success" else False if conclusion in GITHUB_FAILED else None
    return CiOutcome(GITHUB, delivery, str((body.get("repository") or {}).get("full_name") or ""),
                     sha, check, conclusion, success)


# -- Azure DevOps ---------------------------------------------------------------------------------


def ado_delivery(body: dict[str, Any]) -> tuple[str, str, datetime | None]:
    """(event type, delivery id, created) from the body; PayloadError when they are missing."""
    event = body.get("eventType")
    if not isinstance(event, str) or not event:
        raise PayloadError("payload has no eventType; is this an Azure DevOps service hook?")
    created = None
    if body.get("createdDate") is not None:
        try:
            created = datetime.fromisoformat(str(body["createdDate"]))
        except ValueError:
            raise PayloadError(f"createdDate {body['createdDate']!r} is not an ISO 8601 time.") from None
        if created.tzinfo is None:
            raise PayloadError("createdDate must carry a time zone (Azure DevOps sends UTC with Z).")
    return event, _delivery(body.get("id"), "payload field 'id'"), created


def parse_ado(event: str, delivery: str, body: dict[str, Any], branches: tuple[str, ...]) -> Event:
    if event == "git.push":
        return _ado_push(delivery, body, branches)
    if event == "build.complete":
        return _ado_build(delivery, body)
    return Ignored(f"Azure DevOps event {event!r} is not used; subscribe to Code pushed and Build completed")


def _ado_push(delivery: str, body: dict[str, Any], branches: tuple[str, ...]) -> Event:
    resource = _required(body, "resource", dict)
    updates = _required(resource, "refUpdates", list)
    heads = [u for u in updates if isinstance(u, dict) and str(u.get("name", "")).startswith("refs/heads/")]
    if not heads:
        return Ignored("push updates no branch (tags only)")
    live = [u for u in heads if u.get("newObjectId") != ZERO_SHA]
    if not live:
        return Ignored(f"branch deletion {heads[0]['name']!r} does not start a run")
    chosen = next((u for u in live if not isinstance(_branch(u["name"], branches), Ignored)), None)
    if chosen is None:
        unwatched = _branch(live[0]["name"], branches)
        return unwatched if isinstance(unwatched, Ignored) else Ignored(f"{unwatched!r} is not watched")
    repository = resource.get("repository") or {}
    commits = [c for c in resource.get("commits") or [] if isinstance(c, dict)]
    return Push(
        provider=AZURE_DEVOPS,
        delivery=delivery,
        repository=str(repository.get("remoteUrl") or repository.get("name") or ""),
        branch=chosen["name"][len("refs/heads/"):],
        before=str(chosen.get("oldObjectId") or ""),
        after=_required(chosen, "newObjectId", str),
        commits=tuple(str(c.get("commitId", "")) for c in commits),
        changed=None,
        unlisted="Azure DevOps push payloads do not list changed files",
    )


def _ado_build(delivery: str, body: dict[str, Any]) -> Event:
    resource = _required(body, "resource", dict)
    # resourceVersion 2.0 has result/sourceVersion; 1.0 has status and "LG:<ref>:<sha>".
    result = str(resource.get("result") or resource.get("status") or "")
    sha = resource.get("sourceVersion") or str(resource.get("sourceGetVersion") or "").rpartition(":")[2]
    if not sha:
        raise PayloadError("build.complete payload has no resource.sourceVersion (the built commit).")
    check = str((resource.get("definition") or {}).get("name") or "build")
    repository = str(((resource.get("repository") or {}).get("name")) or "")
    success = True if result == "succeeded" else False if result in ADO_FAILED else None
    return CiOutcome(AZURE_DEVOPS, delivery, repository, str(sha), check, result, success)


# -- helpers --------------------------------------------------------------------------------------


def _branch(ref: str, branches: tuple[str, ...]) -> str | Ignored:
    if not ref.startswith("refs/heads/"):
        return Ignored(f"ref {ref!r} is not a branch")
    branch = ref[len("refs/heads/"):]
    if branch not in branches:
        return Ignored(f"branch {branch!r} is not watched (DRIFTLINE_BRANCHES={','.join(branches)})")
    return branch


def _delivery(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{where} is missing; it identifies the delivery.")
    if not DELIVERY_ID.match(value):
        raise PayloadError(f"{where} {value[:40]!r} is not a valid delivery id.")
    return value


def _required(mapping: dict[str, Any], key: str, kind: type) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        raise PayloadError(f"payload field {key!r} is missing or not a {kind.__name__}.")
    return value

"""Approval between test and deploy: a state on the run, decided over HTTP or expired by a timer.

When DRIFTLINE_APPROVAL_REQUIRED is true the test step calls `request`: it writes a small marker
`runs/approvals/<run_id>.json` (so the sweeper lists pending approvals without reading every run),
then pauses the run ("waiting") and notifies `approval.requested` (with one signed link per allowed
approver, see `shared.chain.approvers`). `decide` records the authenticated identity that decided (never
a claimed name) and why, deletes the marker, and resumes the run (deploy is enqueued) or ends it
"rejected".
`expire` rejects approvals older than DRIFTLINE_APPROVAL_TTL_HOURS; the sweeper timer calls it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.chain import approvers, notify, runs
from shared.chain.states import RunStatus, run_status, step_status
from shared.platform import names
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage

log = logging.getLogger(__name__)
STEP = "approve"
MARKER_PREFIX = "approvals/"
SYSTEM = "driftline"


def marker_blob(run_id: str) -> str:
    return f"{MARKER_PREFIX}{runs.check_run_id(run_id)}.json"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def request(storage: Storage, settings: Settings, message: StepMessage, outputs: dict[str, Any],
            now: datetime | None = None) -> dict[str, Any]:
    """Finish the test step and wait for a decision; returns the pending request."""
    requested = _now(now)
    pending = {
        "run_id": message.run_id,
        "model": message.model,
        "version": outputs.get("version"),
        "requested": requested.isoformat(timespec="seconds"),
        "expires": (requested + timedelta(hours=settings.approval_ttl_hours)).isoformat(timespec="seconds"),
    }
    storage.write_json(names.RUNS, marker_blob(message.run_id), pending)
    runs.complete_step(storage, message, outputs, wait=True)
    notify.enqueue(storage, "approval.requested", model=message.model, run_id=message.run_id, data={
        **pending,
        "approve": f"/api/runs/{message.run_id}/approve",
        "reject": f"/api/runs/{message.run_id}/reject",
        "links": approvers.links(settings, message.run_id, str(pending["requested"]), str(pending["expires"])),
        "gates": outputs.get("gates", []),
    })
    log.info("run %s waits for approval of %s v%s until %s: POST /api/runs/%s/approve or /reject "
             "(./driftline approve %s)", message.run_id, message.model, pending["version"], pending["expires"],
             message.run_id, message.run_id)
    return pending


class Expired(runs.NotWaiting):
    """The approval came after the request expired; the run was rejected instead."""


def decide(storage: Storage, settings: Settings, run_id: str, *, approved: bool, reason: str,
           headers: Mapping[str, str], token: str | None = None,
           now: datetime | None = None) -> tuple[runs.Decision, approvers.Identity]:
    """Approve or reject a waiting run as the authenticated approver (`approvers.identify`: the App
    Service principal in `headers`, or a signed link's `token`). Raises BadRequest for a malformed id,
    Unauthorized, Forbidden, runs.UnknownRun, runs.NotWaiting, or Expired."""
    marker = storage.read_json(names.RUNS, marker_blob(run_id))
    if marker is None and runs.get_run(storage, run_id) is None:
        raise runs.UnknownRun(f"run {run_id} does not exist.")
    identity = approvers.identify(storage, settings, headers, token, run_id, "approve" if approved else "reject",
                                  None if marker is None else marker.value, _now(now))
    if approved and marker is not None and datetime.fromisoformat(marker.value["expires"]) <= _now(now):
        _reject(storage, run_id, marker.value["model"], f"approval expired at {marker.value['expires']}")
        raise Expired(f"the approval request of run {run_id} expired at {marker.value['expires']}; the run was rejected.")
    decision = runs.decide(storage, run_id, STEP, approved=approved, by=identity.name, reason=reason,
                           identity=identity.to_dict())
    storage.delete(names.RUNS, marker_blob(run_id))
    if not decision.repeated:
        event = "run.approved" if approved else "run.rejected"
        notify.enqueue(storage, event, model=decision.run["model"], run_id=run_id,
                       data={"by": identity.name, "identity": identity.to_dict(), "reason": reason, "step": STEP})
    return decision, identity


def expire(storage: Storage, settings: Settings, now: datetime | None = None) -> list[str]:
    """Reject every waiting approval past its expiry; returns the run ids rejected. Markers of runs
    already decided or finished are cleaned up."""
    now = _now(now)
    expired = []
    for item in storage.list(names.RUNS, MARKER_PREFIX):
        document = storage.read_json(names.RUNS, item.name)
        if document is None:
            continue
        pending = document.value
        run = runs.get_run(storage, pending["run_id"])
        if run is None or run_status(run["status"]).final or step_status(run["steps"].get(STEP)).final:
            storage.delete(names.RUNS, item.name)
            continue
        if run_status(run["status"]) is not RunStatus.WAITING or datetime.fromisoformat(pending["expires"]) > now:
            continue
        if _reject(storage, pending["run_id"], pending["model"], f"approval expired at {pending['expires']}"):
            expired.append(pending["run_id"])
    return expired


def _reject(storage: Storage, run_id: str, model: str, reason: str) -> bool:
    try:
        decision = runs.decide(storage, run_id, STEP, approved=False, by=SYSTEM, reason=reason)
    except runs.NotWaiting:
        return False
    storage.delete(names.RUNS, marker_blob(run_id))
    if not decision.repeated:
        notify.enqueue(storage, "run.rejected", model=model, run_id=run_id,
                       data={"by": SYSTEM, "reason": reason, "step": STEP})
    return True

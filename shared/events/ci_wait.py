"""Runs that wait for the repository's CI on their commit (DRIFTLINE_WAIT_FOR_CI).

Index `hooks/ci-wait/<sha>.json`: the run ids parked on a commit and the CI outcomes seen for it.
Either may arrive first (a fast CI can report before the push is processed), so both `park` and
`apply` record themselves in the index and then settle every waiting run by the verdict so far:
- with DRIFTLINE_CI_CHECKS naming checks (workflow or build definition names): all of them must
  succeed, and any failing one skips the run;
- without it: the first successful check releases the run, a failing one skips it.
Inconclusive outcomes (neutral, skipped) are noted and leave runs waiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.chain import runs
from shared.chain.states import RunStatus, run_status
from shared.events.webhooks import CiOutcome
from shared.platform import names
from shared.platform.settings import Settings
from shared.platform.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    delivery: str
    action: str  # started | waiting | duplicate | nothing | settled | noted
    detail: str
    run_ids: tuple[str, ...] = ()


def index_name(sha: str) -> str:
    return f"ci-wait/{sha}.json"


def park(storage: Storage, settings: Settings, sha: str, run_id: str) -> None:
    """Note a waiting run on its commit, and settle it at once if CI already reported."""

    def change(index: dict[str, Any] | None) -> dict[str, Any]:
        index = index or {"sha": sha, "runs": [], "checks": {}}
        if run_id not in index["runs"]:
            index = {**index, "runs": [*index["runs"], run_id]}
        return index

    index = storage.update_json(names.HOOKS, index_name(sha), change)
    _settle(storage, settings, index, (run_id,))


def apply(storage: Storage, settings: Settings, ci: CiOutcome) -> Outcome:
    """Record a CI outcome for its commit and release or skip the runs waiting on it."""
    if settings.ci_checks and ci.check not in settings.ci_checks:
        return Outcome(ci.delivery, "noted", f"check {ci.check!r} is not in DRIFTLINE_CI_CHECKS")
    if ci.success is None:
        return Outcome(ci.delivery, "noted", f"check {ci.check!r} ended {ci.conclusion!r}, which decides nothing")

    def change(index: dict[str, Any] | None) -> dict[str, Any]:
        index = index or {"sha": ci.sha, "runs": [], "checks": {}}
        checks = {**index["checks"], ci.check: {"conclusion": ci.conclusion, "success": ci.success}}
        return {**index, "checks": checks}

    index = storage.update_json(names.HOOKS, index_name(ci.sha), change)
    settled = _settle(storage, settings, index, tuple(index["runs"]))
    verdict = _verdict(index["checks"], settings.ci_checks)
    detail = f"CI {ci.check!r} {ci.conclusion} on {ci.sha[:7]}; verdict so far: {_words(verdict)}"
    return Outcome(ci.delivery, "settled" if settled else "noted", detail, settled)


def _settle(storage: Storage, settings: Settings, index: dict[str, Any], run_ids: tuple[str, ...]) -> tuple[str, ...]:
    verdict = _verdict(index["checks"], settings.ci_checks)
    if verdict is None:
        return ()
    summary = ", ".join(f"{name} {c['conclusion']}" for name, c in sorted(index["checks"].items()))
    settled = []
    for run_id in run_ids:
        run = runs.get_run(storage, run_id)
        if run is None or run_status(run["status"]) is not RunStatus.WAITING:
            continue
        if verdict:
            if runs.release_run(storage, run_id, f"CI passed on {index['sha'][:7]}: {summary}"):
                settled.append(run_id)
        else:
            runs.stop_run(storage, run_id, None, RunStatus.SKIPPED, f"CI failed on {index['sha'][:7]}: {summary}")
            settled.append(run_id)
        log.info("run %s %s by CI (%s)", run_id, "released" if verdict else "skipped", summary)
    return tuple(settled)


def _verdict(checks: dict[str, dict[str, Any]], required: tuple[str, ...]) -> bool | None:
    counted = {name: c["success"] for name, c in checks.items() if not required or name in required}
    if any(success is False for success in counted.values()):
        return False
    if required:
        return True if all(counted.get(name) is True for name in required) else None
    return True if counted else None


def _words(verdict: bool | None) -> str:
    return {True: "passed", False: "failed", None: "pending"}[verdict]

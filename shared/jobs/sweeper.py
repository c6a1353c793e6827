"""The sweeper timer: expired approvals and CI waits, the running canary, and stuck steps."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.chain import runs
from shared.chain.states import RunStatus, StepStatus, run_status, step_status
from shared.jobs.outcome import JobAction, JobOutcome
from shared.platform import names
from shared.platform.settings import Settings
from shared.platform.storage import Storage


def sweep(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    """Expire approvals and CI waits; judge a running canary; resend steps stuck in "running" past
    the timeout, then fail them.

    A step counts as stuck when it has been running longer than DRIFTLINE_STEP_TIMEOUT_MINUTES (its
    worker died, or its message was lost), and so does the first step of a running run that never
    began within that time (its message was lost after the run record was written). A step whose lease
    is still live is not stuck, however long it has run: its worker's heartbeat renews the lease
    (shared.chain.runs.heartbeat), so a long training is left alone and a dead worker's step is swept
    once its lease has expired. A stuck step is resent up to DRIFTLINE_STEP_MAX_RETRIES times
    (each resend restarts its clock), then the run fails with the reason. Only runs changed within
    DRIFTLINE_RETENTION_DAYS are read, so the sweep does not grow with the whole history.
    """
    from shared.chain import approvals
    from shared.model.canary import evaluate_canary

    if not settings.sweep_enabled:
        return JobOutcome("sweep", JobAction.DISABLED, "DRIFTLINE_SWEEP_ENABLED is false")
    expired = approvals.expire(storage, settings, now)
    canary = evaluate_canary(storage, settings, settings.model_name)
    timeout = timedelta(minutes=settings.step_timeout_minutes)
    horizon = now - timedelta(days=settings.retention_days)
    resent, failed, ci_expired = [], [], []
    for item in storage.list(names.RUNS):
        if "/" in item.name or not item.name.endswith(".json"):
            continue  # approval markers and other documents live in folders
        if not horizon <= item.last_modified <= now - timeout:
            continue
        run = runs.get_run(storage, item.name[: -len(".json")])
        if run is not None and _waited_too_long_for_ci(run, settings, now):
            runs.stop_run(storage, run["run_id"], None, RunStatus.SKIPPED,
                          f"no CI result for this commit within {settings.ci_wait_hours:g} h (DRIFTLINE_CI_WAIT_HOURS)")
            ci_expired.append(run["run_id"])
            continue
        if run is None or run_status(run["status"]) is not RunStatus.RUNNING:
            continue
        if not run["steps"] and datetime.fromisoformat(run["updated"]) <= now - timeout:
            first = run["steps_planned"][0]
            if runs.resend_step(storage, run["run_id"], first, f"step {first} never began; message sent again"):
                resent.append(run["run_id"])
            continue
        for step, entry in run["steps"].items():
            if step_status(entry) is not StepStatus.RUNNING or datetime.fromisoformat(entry["started"]) > now - timeout:
                continue
            if _lease_live(entry, now):
                continue  # its worker is alive and beating
            stuck = f"step {step} was running for more than {settings.step_timeout_minutes} min"
            if entry.get("resent", 0) < settings.step_max_retries:
                if runs.resend_step(storage, run["run_id"], step, f"{stuck}; message sent again"):
                    resent.append(run["run_id"])
            else:
                runs.stop_run(storage, run["run_id"], step, RunStatus.FAILED,
                              f"{stuck} after {entry.get('resent', 0)} resends; giving up")
                failed.append(run["run_id"])
    detail = (f"{len(expired)} approvals and {len(ci_expired)} CI waits expired, canary: {canary.action} "
              f"({canary.reason}), {len(resent)} stuck steps resent, {len(failed)} failed")
    return JobOutcome("sweep", JobAction.SWEPT, detail, tuple(expired + ci_expired + resent + failed))


def _lease_live(entry: dict, now: datetime) -> bool:
    lease = entry.get("lease") or {}
    return bool(lease) and datetime.fromisoformat(lease["until"]) > now


def _waited_too_long_for_ci(run: dict, settings: Settings, now: datetime) -> bool:
    """A run parked until CI passes (waiting, no step begun: approval waits have steps)."""
    return (run_status(run["status"]) is RunStatus.WAITING and not run["steps"]
            and datetime.fromisoformat(run["created"]) <= now - timedelta(hours=settings.ci_wait_hours))

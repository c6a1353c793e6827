"""What the timers do: scheduled drift and retrain, the sweeper, and retention cleanup.

Schedules are NCRONTAB app settings bound as `%DRIFTLINE_*_SCHEDULE%` (the host refuses to index a
timer whose setting is missing, so they always exist, with defaults). Whether a job does anything
is its own switch: DRIFTLINE_SCHEDULED_DRIFT and DRIFTLINE_SCHEDULED_RETRAIN default to off,
DRIFTLINE_SWEEP_ENABLED and DRIFTLINE_CLEANUP_ENABLED to on. A disabled job returns at once.

Each job is idempotent for one firing: scheduled runs have ids derived from the minute they fired,
so a timer fired twice for the same slot (a host restart, two instances) starts one run.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shared.chain import runs
from shared.events import lake
from shared.model import registry
from shared.platform import names
from shared.platform.settings import Settings
from shared.platform.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    job: str
    action: str  # disabled | nothing | started | checked | swept | cleaned | failed
    detail: str
    run_ids: tuple[str, ...] = ()


def _slot(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M")


# -- scheduled drift over the scoring log -------------------------------------------------------


def scheduled_drift(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    """Drift of the last DRIFTLINE_DRIFT_WINDOW_HOURS of scoring log against the production profile."""
    if not settings.scheduled_drift:
        return JobOutcome("drift", "disabled", "DRIFTLINE_SCHEDULED_DRIFT is false")
    version = registry.resolve(storage, settings.model_name, "production")
    if version is None:
        return JobOutcome("drift", "nothing", "no production model; drift check skipped")
    start = now - timedelta(hours=settings.drift_window_hours)
    blobs = scoring_log_blobs(storage, settings.model_name, start, now)
    if not blobs:
        return JobOutcome("drift", "nothing", f"no scoring log since {start.isoformat(timespec='minutes')}")
    profile = registry.load_profile(storage, settings.model_name, version)
    source = f"scoring-log-{settings.drift_window_hours:g}h.jsonl"
    try:
        with io.BufferedReader(_Concatenated(storage, blobs), buffer_size=1 << 20) as stream:
            check = lake.check_drift(storage, settings, profile, stream, source=source, now=now)
    except lake.Rejected as problem:
        # Several log blobs, none of them an upload: report, do not quarantine.
        return JobOutcome("drift", "failed", f"scoring log of {len(blobs)} blobs not usable: {problem}")
    if not check.drifted:
        return JobOutcome("drift", "checked", f"no drift over {check.rows} logged rows: {check.reason}")
    trigger = {"kind": "drift", "source": "scoring-log", "since": start.isoformat(), "blobs": len(blobs)}
    run_id = lake.start_drift_retrain(storage, settings, check, trigger,
                                      runs.run_id_for("scheduled-drift", settings.model_name, _slot(now)),
                                      f"drift in the last {settings.drift_window_hours:g} h of scoring")
    return JobOutcome("drift", "started", check.reason, (run_id,))


def scoring_log_blobs(storage: Storage, model: str, start: datetime, end: datetime) -> list[str]:
    """Scoring-log batches of hours overlapping [start, end], by their `<date>/<HH>-...` names."""
    found = []
    day = start.date()
    while day <= end.date():
        prefix = f"{names.SCORING_LOG_PREFIX}{model}/{day.isoformat()}/"
        for item in storage.list(names.DATALAKE, prefix):
            hour = item.name[len(prefix):][:2]
            if not (hour.isdigit() and item.name.endswith(".jsonl")):
                continue
            opened = datetime(day.year, day.month, day.day, int(hour), tzinfo=timezone.utc)
            if opened + timedelta(hours=1) > start and opened <= end:
                found.append(item.name)
        day += timedelta(days=1)
    return sorted(found)


class _Concatenated(io.RawIOBase):
    """Several JSON Lines blobs read as one stream, each ending in a newline."""

    def __init__(self, storage: Storage, blobs: list[str]):
        self._storage = storage
        self._pending: Iterator[str] = iter(blobs)
        self._current: io.BufferedReader | None = None
        self._last = b"\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._current is None:
                name = next(self._pending, None)
                if name is None:
                    return 0
                self._current = self._storage.open_stream(names.DATALAKE, name)
            data = self._current.read(len(buffer))
            if data:
                self._last = data[-1:]
                buffer[: len(data)] = data
                return len(data)
            self._current = None
            if self._last != b"\n":
                self._last = b"\n"
                buffer[:1] = b"\n"
                return 1


# -- scheduled retrain ---------------------------------------------------------------------------


def scheduled_retrain(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    if not settings.scheduled_retrain:
        return JobOutcome("retrain", "disabled", "DRIFTLINE_SCHEDULED_RETRAIN is false")
    run_id, created = runs.start_run(
        storage, plan="full", model=settings.model_name,
        trigger={"kind": "timer", "schedule": "DRIFTLINE_RETRAIN_SCHEDULE", "at": now.isoformat()},
        reason=f"scheduled retrain at {now.isoformat(timespec='minutes')}",
        run_id=runs.run_id_for("scheduled-retrain", settings.model_name, _slot(now)),
    )
    return JobOutcome("retrain", "started" if created else "nothing",
                      "retrain started" if created else "this slot's retrain exists already", (run_id,))


# -- sweeper: expired approvals, stuck steps -----------------------------------------------------


def sweep(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    """Expire approvals and CI waits; judge a running canary; resend steps stuck in "running" past
    the timeout, then fail them.

    A step counts as stuck when it has been running longer than DRIFTLINE_STEP_TIMEOUT_MINUTES (its
    worker died, or its message was lost), and so does the first step of a running run that never
    began within that time (its message was lost after the run record was written). It is resent up to DRIFTLINE_STEP_MAX_RETRIES times
    (each resend restarts its clock), then the run fails with the reason. Only runs changed within
    DRIFTLINE_RETENTION_DAYS are read, so the sweep does not grow with the whole history.
    """
    from shared.chain import approvals
    from shared.model import deploy

    if not settings.sweep_enabled:
        return JobOutcome("sweep", "disabled", "DRIFTLINE_SWEEP_ENABLED is false")
    expired = approvals.expire(storage, settings, now)
    canary = deploy.evaluate_canary(storage, settings, settings.model_name)
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
            runs.stop_run(storage, run["run_id"], None, "skipped",
                          f"no CI result for this commit within {settings.ci_wait_hours:g} h (DRIFTLINE_CI_WAIT_HOURS)")
            ci_expired.append(run["run_id"])
            continue
        if run is None or run["status"] != "running":
            continue
        if not run["steps"] and datetime.fromisoformat(run["updated"]) <= now - timeout:
            first = run["steps_planned"][0]
            if runs.resend_step(storage, run["run_id"], first, f"step {first} never began; message sent again"):
                resent.append(run["run_id"])
            continue
        for step, entry in run["steps"].items():
            if entry.get("status") != "running" or datetime.fromisoformat(entry["started"]) > now - timeout:
                continue
            stuck = f"step {step} was running for more than {settings.step_timeout_minutes} min"
            if entry.get("resent", 0) < settings.step_max_retries:
                if runs.resend_step(storage, run["run_id"], step, f"{stuck}; message sent again"):
                    resent.append(run["run_id"])
            else:
                runs.stop_run(storage, run["run_id"], step, "failed",
                              f"{stuck} after {entry.get('resent', 0)} resends; giving up")
                failed.append(run["run_id"])
    detail = (f"{len(expired)} approvals and {len(ci_expired)} CI waits expired, canary: {canary.action} "
              f"({canary.reason}), {len(resent)} stuck steps resent, {len(failed)} failed")
    return JobOutcome("sweep", "swept", detail, tuple(expired + ci_expired + resent + failed))


def _waited_too_long_for_ci(run: dict, settings: Settings, now: datetime) -> bool:
    """A run parked until CI passes (waiting, no step begun: approval waits have steps)."""
    return (run["status"] == "waiting" and not run["steps"]
            and datetime.fromisoformat(run["created"]) <= now - timedelta(hours=settings.ci_wait_hours))


# -- retention -------------------------------------------------------------------------------------


def cleanup(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    """Delete scoring-log blobs and drift reports older than DRIFTLINE_RETENTION_DAYS."""
    if not settings.cleanup_enabled:
        return JobOutcome("cleanup", "disabled", "DRIFTLINE_CLEANUP_ENABLED is false")
    cutoff = now - timedelta(days=settings.retention_days)
    deleted = {"scoring log": 0, "reports": 0}
    for container, prefix, label in ((names.DATALAKE, names.SCORING_LOG_PREFIX, "scoring log"),
                                     (names.REPORTS, "", "reports")):
        for item in storage.list(container, prefix):
            if item.last_modified < cutoff and storage.delete(container, item.name):
                deleted[label] += 1
    detail = ", ".join(f"{count} {label} blobs" for label, count in deleted.items())
    return JobOutcome("cleanup", "cleaned", f"deleted {detail} older than {cutoff.date().isoformat()}")

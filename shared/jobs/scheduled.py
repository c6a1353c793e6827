"""Scheduled jobs that may start a run: drift over the scoring log, and the scheduled retrain."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO
from datetime import datetime, timedelta, timezone

from shared.chain import runs
from shared.events import lake
from shared.jobs.outcome import JobAction, JobOutcome, slot
from shared.model import registry
from shared.platform import names
from shared.platform.settings import Settings
from shared.platform.storage import Storage


def scheduled_drift(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    """Drift of the last DRIFTLINE_DRIFT_WINDOW_HOURS of scoring log against the production profile."""
    if not settings.scheduled_drift:
        return JobOutcome("drift", JobAction.DISABLED, "DRIFTLINE_SCHEDULED_DRIFT is false")
    version = registry.resolve(storage, settings.model_name, "production")
    if version is None:
        return JobOutcome("drift", JobAction.NOTHING, "no production model; drift check skipped")
    start = now - timedelta(hours=settings.drift_window_hours)
    blobs = scoring_log_blobs(storage, settings.model_name, start, now)
    if not blobs:
        return JobOutcome("drift", JobAction.NOTHING, f"no scoring log since {start.isoformat(timespec='minutes')}")
    profile = registry.load_profile(storage, settings.model_name, version)
    source = f"scoring-log-{settings.drift_window_hours:g}h.jsonl"
    try:
        with io.BufferedReader(_Concatenated(storage, blobs), buffer_size=1 << 20) as stream:
            check = lake.check_drift(storage, settings, profile, stream, source=source, now=now)
    except lake.Rejected as problem:
        # Several log blobs, none of them an upload: report, do not quarantine.
        return JobOutcome("drift", JobAction.FAILED, f"scoring log of {len(blobs)} blobs not usable: {problem}")
    if not check.drifted:
        return JobOutcome("drift", JobAction.CHECKED, f"no drift over {check.rows} logged rows: {check.reason}")
    trigger = {"kind": "drift", "source": "scoring-log", "since": start.isoformat(), "blobs": len(blobs)}
    run_id = lake.start_drift_retrain(storage, settings, check, trigger,
                                      runs.run_id_for("scheduled-drift", settings.model_name, slot(now)),
                                      f"drift in the last {settings.drift_window_hours:g} h of scoring")
    if run_id is None:
        return JobOutcome("drift", JobAction.CHECKED, f"{check.reason}; labels needed: no new labeled rows "
                                                      "to learn from, the retrain starts when they arrive")
    return JobOutcome("drift", JobAction.STARTED, check.reason, (run_id,))


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
        self._current: IO[bytes] | None = None
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


def scheduled_retrain(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    if not settings.scheduled_retrain:
        return JobOutcome("retrain", JobAction.DISABLED, "DRIFTLINE_SCHEDULED_RETRAIN is false")
    run_id, created = runs.start_run(
        storage, plan="data", model=settings.model_name,
        trigger={"kind": "timer", "schedule": "DRIFTLINE_RETRAIN_SCHEDULE", "at": now.isoformat()},
        reason=f"scheduled retrain at {now.isoformat(timespec='minutes')}",
        run_id=runs.run_id_for("scheduled-retrain", settings.model_name, slot(now)),
    )
    return JobOutcome("retrain", JobAction.STARTED if created else JobAction.NOTHING,
                      "retrain started" if created else "this slot's retrain exists already", (run_id,))

"""Retention: scoring-log blobs and drift reports older than DRIFTLINE_RETENTION_DAYS are deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.jobs.outcome import JobAction, JobOutcome
from shared.platform import names
from shared.platform.settings import Settings
from shared.platform.storage import Storage


def cleanup(storage: Storage, settings: Settings, now: datetime) -> JobOutcome:
    """Delete scoring-log blobs and drift reports older than DRIFTLINE_RETENTION_DAYS."""
    if not settings.cleanup_enabled:
        return JobOutcome("cleanup", JobAction.DISABLED, "DRIFTLINE_CLEANUP_ENABLED is false")
    cutoff = now - timedelta(days=settings.retention_days)
    deleted = {"scoring log": 0, "reports": 0}
    for container, prefix, label in ((names.DATALAKE, names.SCORING_LOG_PREFIX, "scoring log"),
                                     (names.REPORTS, "", "reports")):
        for item in storage.list(container, prefix):
            if item.last_modified < cutoff and storage.delete(container, item.name):
                deleted[label] += 1
    detail = ", ".join(f"{count} {label} blobs" for label, count in deleted.items())
    return JobOutcome("cleanup", JobAction.CLEANED, f"deleted {detail} older than {cutoff.date().isoformat()}")

"""What a timer job reports, and the slot a firing belongs to.

Schedules are NCRONTAB app settings bound as `%DRIFTLINE_*_SCHEDULE%` (the host refuses to index a
timer whose setting is missing, so they always exist, with defaults). Whether a job does anything
is its own switch: DRIFTLINE_SCHEDULED_DRIFT and DRIFTLINE_SCHEDULED_RETRAIN default to off,
DRIFTLINE_SWEEP_ENABLED and DRIFTLINE_CLEANUP_ENABLED to on. A disabled job returns at once.

Each job is idempotent for one firing: scheduled runs have ids derived from the minute they fired
(`slot`), so a timer fired twice for the same slot (a host restart, two instances) starts one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum


class JobAction(StrEnum):
    DISABLED = "disabled"
    NOTHING = "nothing"
    STARTED = "started"
    CHECKED = "checked"
    SWEPT = "swept"
    CLEANED = "cleaned"
    FAILED = "failed"


@dataclass(frozen=True)
class JobOutcome:
    job: str
    action: JobAction
    detail: str
    run_ids: tuple[str, ...] = ()


def slot(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M")

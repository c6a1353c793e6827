"""Time as the app writes it: UTC, ISO 8601 with milliseconds (run records, lineage, alias history)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")

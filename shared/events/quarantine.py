"""Quarantine: a rejected lake file is copied aside with the reason, and the original is left alone.

`datalake/quarantine/<original path>` holds a server-side copy, and `<that>.reason.json` says why
(reason, source, etag, at). The reason is written after the copy, so a reason file always has its
copy next to it. Nothing is deleted: fix the file and upload it again under its path.
"""

from __future__ import annotations

from datetime import datetime, timezone

from shared.platform import names
from shared.platform.storage import Storage


def quarantine_name(name: str) -> str:
    return names.QUARANTINE_PREFIX + name


def reason_name(name: str) -> str:
    return quarantine_name(name) + ".reason.json"


def quarantine(storage: Storage, name: str, reason: str, *, etag: str, now: datetime | None = None) -> str:
    """Copy `datalake/<name>` into quarantine with its reason; returns the copy's name."""
    target = quarantine_name(name)
    storage.copy(names.DATALAKE, name, target)
    storage.write_json(names.DATALAKE, reason_name(name), {
        "reason": reason,
        "source": f"{names.DATALAKE}/{name}",
        "etag": etag,
        "at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
    })
    return target

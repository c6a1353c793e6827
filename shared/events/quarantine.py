"""Quarantine: a rejected lake file is copied aside with the reason, and the original is left alone.

`datalake/quarantine/<original path>` holds a server-side copy, and `<that>.reason.json` says why
(reason, source, etag, at). The reason is written after the copy, so a reason file always has its
copy next to it. Nothing is deleted: fix the file and upload it again under its path.

A file whose *name* a path cannot hold (`names.lake_name_problem`: dot segments, control characters,
1,000+ characters) is not copied, since its copy could not be named either: `refuse_name` writes only a
reason record `datalake/quarantine/refused/<sha256 of the name>.reason.json` holding the name (JSON
escapes whatever it contains), the reason and the time; the original stays where it is.
"""

from __future__ import annotations

import hashlib
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


REFUSED_PREFIX = names.QUARANTINE_PREFIX + "refused/"


def refused_name(name: str) -> str:
    return f"{REFUSED_PREFIX}{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()}.reason.json"


def refuse_name(storage: Storage, name: str, reason: str, *, etag: str | None = None,
                now: datetime | None = None) -> str:
    """Keep the reason a lake name cannot be handled, under a name derived from its hash; returns it.
    Writing it again (a redelivery) rewrites the same record."""
    target = refused_name(name)
    storage.write_json(names.DATALAKE, target, {
        "reason": reason,
        "name": name.encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "source": f"{names.DATALAKE}/{name[:200]}",
        "etag": etag,
        "at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
    })
    return target

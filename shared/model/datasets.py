"""The dataset a retrain reads: the labeled files intake accepted, once per content, newest first.

- `accept` records a file intake checked in `models/<name>/dataset/<content sha256>.json`, created
  only if absent: the same bytes uploaded twice, under any name, are one entry (the first), so their
  rows are never trained on twice. A quarantined file is never accepted, so it never reaches training.
- `select` is the dataset of a retrain: the entries newest first, cut by the window (`Window`: age in
  days and total rows, from driftline.toml [data] or the settings; the newest file is always kept), with
  the rows that came from feedback (`labeled/feedback/`) capped at a share of the whole: the oldest
  feedback files beyond the cap are left out, with the reason.
- `version` names a dataset by the content of its files (sha256 over their sorted content hashes),
  so the same files give the same version whatever they are called or when they were uploaded.
- `new_rows` counts the labeled rows a model has not seen: entries whose content is not in the
  model's dataset manifest (its lineage's `data.files`). Intake asks this on every upload, so it is
  answered from the listing alone (`counts`): each entry is written with its rows and whether it is
  feedback as blob metadata, which a listing returns 5,000 entries per request, instead of one read
  per entry (one per feedback request ever made, on a busy model).
The manifest stored with a version lists each file's blob name, ETag, version id (when blob
versioning gives one), content sha256 and rows, and every file left out with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.platform import names
from shared.platform.clock import utcnow
from shared.platform.errors import ConditionFailed
from shared.platform.names import check_model_name
from shared.platform.storage import Storage


@dataclass(frozen=True)
class DatasetFile:
    name: str  # blob in the datalake container
    etag: str
    sha256: str  # of the file's bytes
    rows: int  # labeled rows
    accepted: str  # when intake accepted it (UTC ISO 8601)
    version_id: str | None = None

    @property
    def feedback(self) -> bool:
        return self.name.startswith(names.FEEDBACK_PREFIX)


@dataclass(frozen=True)
class Window:
    max_age_days: float | None = None
    max_rows: int | None = None


@dataclass(frozen=True)
class Selection:
    files: list[DatasetFile]
    left_out: list[dict[str, str]]  # name, reason


def _prefix(model: str) -> str:
    return f"{check_model_name(model)}/dataset/"


@dataclass(frozen=True)
class EntryCount:
    """What counting new rows needs of an entry, as its listing gives it."""

    sha256: str
    rows: int
    feedback: bool


def accept(storage: Storage, model: str, file: DatasetFile) -> DatasetFile | None:
    """Record an accepted file; returns the entry already holding the same content, or None if new."""
    name = f"{_prefix(model)}{file.sha256}.json"
    try:
        storage.create_json(names.MODELS, name, asdict(file),
                            metadata={"rows": str(file.rows), "feedback": "1" if file.feedback else "0"})
        return None
    except ConditionFailed:
        existing = storage.read_json(names.MODELS, name)
        return None if existing is None else DatasetFile(**existing.value)


def entries(storage: Storage, model: str) -> list[DatasetFile]:
    """Every accepted file, newest first."""
    found = []
    for item in storage.list(names.MODELS, _prefix(model)):
        document = storage.read_json(names.MODELS, item.name)
        if document is not None:
            found.append(DatasetFile(**document.value))
    return sorted(found, key=lambda f: (f.accepted, f.name), reverse=True)


def counts(storage: Storage, model: str) -> list[EntryCount]:
    """Every entry's content hash, rows and kind, from one listing (an entry written without the
    metadata, or with metadata that does not parse, is read instead)."""
    found = []
    for item in storage.list(names.MODELS, _prefix(model), metadata=True):
        sha256 = item.name[len(_prefix(model)):].removesuffix(".json")
        rows, feedback = item.metadata.get("rows", ""), item.metadata.get("feedback")
        if rows.isdigit() and feedback in ("0", "1"):
            found.append(EntryCount(sha256, int(rows), feedback == "1"))
            continue
        document = storage.read_json(names.MODELS, item.name)
        if document is not None:
            entry = DatasetFile(**document.value)
            found.append(EntryCount(entry.sha256, entry.rows, entry.feedback))
    return found


def select(files: list[DatasetFile], window: Window, *, feedback_max_share: float,
           now: datetime | None = None) -> Selection:
    """The dataset from `files` (newest first): windowed, then feedback capped."""
    now = now or datetime.fromisoformat(utcnow())
    kept: list[DatasetFile] = []
    left_out: list[dict[str, str]] = []
    rows = 0
    for file in files:
        if kept and window.max_age_days is not None and \
                datetime.fromisoformat(file.accepted) < now - timedelta(days=window.max_age_days):
            left_out.append({"name": file.name, "reason": f"older than {window.max_age_days:g} days (window)"})
        elif kept and window.max_rows is not None and rows + file.rows > window.max_rows:
            left_out.append({"name": file.name, "reason": f"beyond the newest {window.max_rows} rows (window)"})
        else:
            kept.append(file)
            rows += file.rows
    feedback = sum(f.rows for f in kept if f.feedback)
    for file in reversed([f for f in kept if f.feedback]):  # oldest feedback first
        if feedback <= feedback_max_share * rows or rows - file.rows <= 0:
            break
        kept.remove(file)
        rows -= file.rows
        feedback -= file.rows
        left_out.append({"name": file.name, "reason": f"feedback above {feedback_max_share:.0%} of the rows "
                                                      "(DRIFTLINE_FEEDBACK_MAX_SHARE)"})
    return Selection(kept, left_out)


def version(contents: Iterable[str]) -> str:
    """The version of a dataset whose files have these content sha256s."""
    return hashlib.sha256("\n".join(sorted(contents)).encode()).hexdigest()


def seen_by(lineage: dict[str, Any] | None) -> set[str]:
    """Content hashes of the files a version was trained on (empty for versions before datasets)."""
    data = (lineage or {}).get("data") or {}
    return {f["sha256"] for f in data.get("files", []) if "sha256" in f}


def new_rows(files: Iterable[DatasetFile | EntryCount], seen: set[str]) -> tuple[int, int]:
    """(rows from uploads, rows from feedback) in `files` that a model with `seen` has not trained on."""
    fresh = [f for f in files if f.sha256 not in seen]
    return sum(f.rows for f in fresh if not f.feedback), sum(f.rows for f in fresh if f.feedback)

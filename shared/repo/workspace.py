"""Where the steps of one instance find a snapshot's files: extracted once per snapshot and reused.

`checkout(storage, snapshot)` gives the folder `<tmp>/driftline-code/<digest>/` holding exactly the
files of the snapshot (`snapshots.materialize` verifies each against the manifest and renames the
folder into place only when whole). The folder is named by the digest of the files, so a folder that
exists is the snapshot, and two steps of one instance never extract the same snapshot twice. Steps
treat it as read-only: user code runs with a scratch folder of its own as working directory.

`repository_key(source)` is the folder a repository's snapshots are stored under in the `code`
container: the source's name made path-safe, plus a short hash of it so two names never collide.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
from pathlib import Path

from shared.platform.storage import Storage
from shared.repo.archives import SnapshotError
from shared.repo.snapshots import Snapshot, materialize
from shared.repo.sources import CodeSource

_LOCK = threading.Lock()


def repository_key(source: CodeSource) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", source.name).strip("-._")[:80] or "repository"
    return f"{readable}-{hashlib.sha256(source.name.encode('utf-8')).hexdigest()[:8]}"


def checkouts_root() -> Path:
    return Path(tempfile.gettempdir()) / "driftline-code"


def checkout(storage: Storage, snapshot: Snapshot, root: Path | None = None) -> Path:
    """The folder holding the snapshot's files, extracted on first use in this instance."""
    folder = (root or checkouts_root()) / snapshot.digest
    with _LOCK:
        if not folder.is_dir():
            try:
                materialize(storage, snapshot, folder)
            except SnapshotError:
                if not folder.is_dir():  # another process of this instance extracted it first
                    raise
    return folder

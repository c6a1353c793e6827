"""Any git repository as a code source, through dulwich (pure-Python git: the app has no git CLI on Azure).

`GitSource(location)` takes a local path or a URL dulwich can fetch (file://, http(s) smart protocol;
ssh needs an ssh client). It guarantees:
- the repository is fetched into a bare cache in this process's temporary folder, one per location
  and shared by every GitSource of that location, under a lock; fetched branches and tags are kept as
  refs, so the next fetch asks only for what is new;
- `resolve(branch)` fetches and answers the tip of `refs/heads/<branch>` as the remote has it now;
- `archive(commit)` fetches only when the commit is not cached yet, then writes a tar of exactly that
  commit's tree from its objects: regular files with their exec bit, the commit id as the pax comment.
  A symlink or a submodule is refused with a SnapshotError (a snapshot takes regular files only), and
  so is a tree past the limits, counted while it is walked;
- `changed_paths(before, after)` is the tree diff of the two commits (a rename gives both paths);
  None when `before` is all zeros or either commit is unknown to the remote.
Credentials in a URL are used to fetch and never shown: `name` drops the URL's user info.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import stat
import tempfile
import threading
import urllib.parse
from pathlib import Path

from dulwich.client import HTTPUnauthorized, default_urllib3_manager, get_transport_and_path
from dulwich.diff_tree import tree_changes
from dulwich.errors import GitProtocolError, NotGitRepository
from dulwich.objects import S_ISGITLINK, Blob, Commit, ObjectID
from dulwich.objects import Tree as GitTree
from dulwich.refs import Ref
from dulwich.repo import Repo
from urllib3 import PoolManager
from urllib3.exceptions import HTTPError  # dulwich's http transport

from shared.repo.archives import Budget, SnapshotLimits, SnapshotError, TreeFile, tar_bytes
from shared.repo.fetch import SourceError, check_commit, is_zero

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


class GitSource:
    """One git repository, by path or URL."""

    strip_top_folder = False

    def __init__(self, location: str, *, limits: SnapshotLimits = SnapshotLimits(), timeout: float = 60.0):
        self.location = location
        self._limits = limits
        self._timeout = timeout
        self._cache = _cache_root() / hashlib.sha256(location.encode("utf-8")).hexdigest()[:24]
        with _LOCKS_LOCK:
            self._lock = _LOCKS.setdefault(self._cache, threading.Lock())

    @property
    def name(self) -> str:
        parts = urllib.parse.urlsplit(self.location)
        if parts.scheme and parts.netloc:
            return "git:" + urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        return f"git:{self.location}"

    def resolve(self, branch: str) -> str:
        with self._lock, self._repo() as repo:
            refs = self._fetch(repo)
        tip = refs.get(Ref(b"refs/heads/" + branch.encode("utf-8")))
        if tip is None:
            raise SourceError(f"{self.name} has no branch {branch!r}.")
        return tip.decode("ascii")

    def archive(self, commit: str) -> bytes:
        commit = check_commit(commit)
        with self._lock, self._repo() as repo:
            found = self._commit(repo, commit)
            if found is None:
                raise SourceError(f"{self.name} has no commit {commit}.")
            files = _tree_files(repo, found.tree, Budget(self._limits))
        return tar_bytes(files, gzipped=False, comment=commit)

    def changed_paths(self, before: str, after: str) -> tuple[str, ...] | None:
        if is_zero(before):
            return None
        before, after = check_commit(before), check_commit(after)
        with self._lock, self._repo() as repo:
            old, new = self._commit(repo, before), self._commit(repo, after)
            if old is None or new is None:
                return None
            changes = list(tree_changes(repo.object_store, old.tree, new.tree))
        return tuple(sorted({entry.path.decode("utf-8", "replace") for change in changes
                             for entry in (change.old, change.new) if entry is not None and entry.path is not None}))

    def _repo(self) -> Repo:
        if not self._cache.exists():
            staging = Path(tempfile.mkdtemp(dir=self._cache.parent))
            Repo.init_bare(str(staging)).close()
            staging.rename(self._cache)
        return Repo(str(self._cache))

    def _fetch(self, repo: Repo) -> dict[Ref, ObjectID]:
        """Fetch every branch and tag; returns the remote's refs and keeps its branches and tags as refs."""
        try:
            client, path = get_transport_and_path(self.location, pool_manager=self._pool())
            result = client.fetch(path, repo)
        except (GitProtocolError, NotGitRepository, HTTPUnauthorized, OSError, HTTPError) as error:
            raise SourceError(f"fetching {self.name} failed ({type(error).__name__}).") from None
        refs = {name: sha for name, sha in result.refs.items()
                if sha is not None and name.startswith((b"refs/heads/", b"refs/tags/")) and not name.endswith(b"^{}")}
        for name, sha in refs.items():
            repo.refs[name] = sha
        return refs

    def _pool(self) -> PoolManager | None:
        """For http(s): dulwich's connection pool (proxies from the environment) with our timeout."""
        if not self.location.startswith(("http://", "https://")):
            return None
        pool = default_urllib3_manager(None, base_url=self.location, timeout=self._timeout)
        assert isinstance(pool, PoolManager)  # given no auth callbacks, dulwich gives a plain pool
        return pool

    def _commit(self, repo: Repo, commit: str) -> Commit | None:
        """The commit object, fetching once when it is not cached; None when the remote has no such commit."""
        sha = ObjectID(commit.encode("ascii"))
        if sha not in repo.object_store:
            self._fetch(repo)
        if sha not in repo.object_store:
            return None
        found = repo.object_store[sha]
        return found if isinstance(found, Commit) else None


def _tree_files(repo: Repo, tree_id: ObjectID, budget: Budget) -> list[TreeFile]:
    """The regular files of a tree, walked from its objects; refuses symlinks and submodules."""
    files = []
    pending = [("", tree_id)]
    while pending:
        prefix, current = pending.pop()
        tree = repo.object_store[current]
        assert isinstance(tree, GitTree)
        for entry in tree.items():
            try:
                path = prefix + entry.path.decode("utf-8")
            except UnicodeDecodeError:
                raise SnapshotError(f"the tree has a file name that is not UTF-8 under {prefix or '/'!r}.") from None
            if S_ISGITLINK(entry.mode):
                raise SnapshotError(f"the tree has a submodule ({path!r}); a snapshot takes regular files only, "
                                    "so vendor its code or install it as a package.")
            if stat.S_ISLNK(entry.mode):
                raise SnapshotError(f"the tree has a symlink ({path!r}); a snapshot takes regular files only.")
            if stat.S_ISDIR(entry.mode):
                pending.append((f"{path}/", entry.sha))
                continue
            blob = repo.object_store[entry.sha]
            assert isinstance(blob, Blob)
            data = blob.as_raw_string()
            budget.add(path, len(data))
            files.append(TreeFile(path, bool(entry.mode & 0o111), data))
    return files


@functools.cache
def _cache_root() -> Path:
    """This process's folder of fetched repositories, removed when the process exits."""
    root = Path(tempfile.mkdtemp(prefix="driftline-git-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root

"""GitSource over real repositories: a local path, file://, and the smart HTTP protocol (dulwich's server)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from wsgiref.simple_server import make_server

import pytest
from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich.web import WSGIRequestHandlerLogger, WSGIServerLogger, make_wsgi_chain

from shared.repo.archives import SnapshotError, SnapshotLimits, read_tree
from shared.repo.fetch import SourceError
from shared.repo.git_source import GitSource
from tests.repo.conftest import History
from tests.repo.gitrepo import GitRepo


@pytest.fixture
def smart_http(history: History) -> Iterator[str]:
    """The history's repository served over git's smart HTTP protocol on 127.0.0.1; yields its URL."""
    with Repo(str(history.repo.path)) as repo:
        app = make_wsgi_chain(DictBackend({"/": repo}))
        server = make_server("127.0.0.1", 0, app, server_class=WSGIServerLogger, handler_class=WSGIRequestHandlerLogger)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/"
        finally:
            server.shutdown()
            server.server_close()


LOCATIONS: dict[str, Callable[[pytest.FixtureRequest, History], str]] = {
    "path": lambda request, history: str(history.repo.path),
    "file url": lambda request, history: history.repo.path.as_uri(),
    "smart http": lambda request, history: request.getfixturevalue("smart_http"),
}


@pytest.fixture(params=sorted(LOCATIONS))
def source(request: pytest.FixtureRequest, history: History) -> GitSource:
    return GitSource(LOCATIONS[request.param](request, history))


def test_resolve_answers_each_branch_tip(source: GitSource, history: History):
    assert source.resolve("main") == history.second
    assert source.resolve("feature") == history.feature
    assert source.resolve("main-old") == history.first


def test_an_unknown_branch_is_a_source_error(source: GitSource):
    with pytest.raises(SourceError, match="has no branch 'nope'"):
        source.resolve("nope")


def test_the_archive_is_exactly_the_commits_tree(source: GitSource, history: History):
    for commit in (history.first, history.second, history.feature):
        tree = read_tree(source.archive(commit), SnapshotLimits(), strip_top_folder=source.strip_top_folder)
        assert tree.commit == commit
        assert {f.path: (f.data, f.executable) for f in tree.files} == history.repo.tree(commit)
    first = read_tree(source.archive(history.first), SnapshotLimits(), strip_top_folder=False)
    assert {f.path for f in first.files if f.executable} == {"scripts/run.sh"}
    assert "README.md" in {f.path for f in first.files}


def test_a_commit_pushed_later_is_fetched(source: GitSource, history: History):
    assert source.resolve("main") == history.second
    third = history.repo.commit("third", {"eval.py": "SCORE = 1\n"})
    assert source.resolve("main") == third
    tree = read_tree(source.archive(third), SnapshotLimits(), strip_top_folder=False)
    assert "eval.py" in {f.path for f in tree.files}


def test_a_commit_the_remote_does_not_have_is_a_source_error(source: GitSource):
    with pytest.raises(SourceError, match="has no commit"):
        source.archive("1" * 40)


def test_changed_paths_is_the_tree_diff(source: GitSource, history: History):
    changed = source.changed_paths(history.first, history.second)
    assert changed == history.repo.changed(history.first, history.second)
    assert {"README.md", "docs/README.md", "train.py", "src/model/net.py"} == set(changed or ())
    assert source.changed_paths(history.second, history.feature) == ("feature.py",)


def test_changed_paths_is_unknown_for_a_new_branch_or_a_commit_pushed_away(source: GitSource, history: History):
    assert source.changed_paths("0" * 40, history.second) is None
    assert source.changed_paths("2" * 40, history.second) is None


def _git_source_of(repo: GitRepo) -> GitSource:
    return GitSource(str(repo.path))


def test_a_symlink_is_refused(tmp_path: Path):
    repo = GitRepo(tmp_path / "links")
    repo.commit("a file", {"train.py": "x = 1\n"})
    (repo.path / "config.py").symlink_to("/etc/passwd")
    commit = repo.commit("a symlink", {})
    with pytest.raises(SnapshotError, match="symlink .*'config.py'"):
        _git_source_of(repo).archive(commit)


def test_a_submodule_is_refused(tmp_path: Path):
    repo = GitRepo(tmp_path / "with-submodule")
    first = repo.commit("a file", {"train.py": "x = 1\n"})
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{first},vendor/lib")
    repo.git("commit", "-q", "-m", "a submodule")
    with pytest.raises(SnapshotError, match="submodule .*'vendor/lib'"):
        _git_source_of(repo).archive(repo.rev("HEAD"))


def test_a_tree_past_the_limits_is_refused_while_it_is_walked(history: History):
    with pytest.raises(SnapshotError, match="more than 2 files"):
        GitSource(str(history.repo.path), limits=SnapshotLimits(max_files=2)).archive(history.first)


@pytest.mark.parametrize("location", ["http://127.0.0.1:9/nothing.git", "/no/such/repository"])
def test_an_unreachable_repository_is_a_source_error(location: str):
    with pytest.raises(SourceError, match="fetching git:"):
        GitSource(location, timeout=5).resolve("main")


def test_the_name_never_shows_credentials():
    assert GitSource("https://ds:s3cret@git.example.com/ml.git").name == "git:https://git.example.com/ml.git"
    assert GitSource("/srv/git/ml").name == "git:/srv/git/ml"

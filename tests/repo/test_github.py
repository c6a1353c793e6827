"""GitHubSource against the local server speaking GitHub's REST shapes over a real repository."""

from __future__ import annotations

import pytest

from shared.repo.archives import SnapshotLimits, read_tree
from shared.repo.fetch import SourceError
from shared.repo.github import GitHubSource
from tests.repo.conftest import History
from tests.repo.providers import Providers


@pytest.fixture
def github(providers: Providers) -> GitHubSource:
    return GitHubSource("acme/ml", token="gh-token", api_url=providers.github_api)


def test_resolve_answers_each_branch_tip_with_the_sha_media_type(github: GitHubSource, history: History,
                                                                  providers: Providers):
    assert github.resolve("main") == history.second
    assert github.resolve("feature") == history.feature
    _, headers = providers.requests[-1]
    assert headers["accept"] == "application/vnd.github.sha"
    assert headers["authorization"] == "Bearer gh-token" and headers["x-github-api-version"] == "2022-11-28"


def test_an_unknown_branch_is_a_source_error_with_the_status(github: GitHubSource):
    with pytest.raises(SourceError, match="commits/nope answered 422") as caught:
        github.resolve("nope")
    assert caught.value.status == 422


def test_the_tarball_follows_the_redirect_without_the_token(github: GitHubSource, history: History,
                                                            providers: Providers):
    data = github.archive(history.first)
    tree = read_tree(data, SnapshotLimits(), strip_top_folder=github.strip_top_folder)
    assert tree.commit == history.first
    assert {f.path: (f.data, f.executable) for f in tree.files} == history.repo.tree(history.first)
    (api_path, api_headers), (codeload_path, codeload_headers) = providers.requests[-2:]
    assert api_path == f"/github/repos/acme/ml/tarball/{history.first}"
    assert api_headers["authorization"] == "Bearer gh-token"
    assert codeload_path.startswith("/codeload/acme/ml/legacy.tar.gz/") and "authorization" not in codeload_headers
    assert codeload_headers["host"].startswith("localhost:")


def test_a_wrong_token_is_refused_and_never_shown(providers: Providers, history: History):
    source = GitHubSource("acme/ml", token="stolen-or-stale", api_url=providers.github_api)
    for call in (lambda: source.resolve("main"), lambda: source.archive(history.first),
                 lambda: source.changed_paths(history.first, history.second)):
        with pytest.raises(SourceError, match="answered 401") as caught:
            call()
        assert "stolen-or-stale" not in str(caught.value) and providers.github_api in str(caught.value)


def test_a_public_repository_needs_no_token(history: History):
    public = Providers(history.repo, github_token=None).start()
    try:
        source = GitHubSource("acme/ml", api_url=public.github_api)
        assert source.resolve("main") == history.second
        assert read_tree(source.archive(history.second), SnapshotLimits(), strip_top_folder=True).commit == history.second
        assert all("authorization" not in headers for _, headers in public.requests)
    finally:
        public.stop()


def test_changed_paths_lists_files_and_both_names_of_a_rename(github: GitHubSource, history: History):
    changed = github.changed_paths(history.first, history.second)
    assert changed == history.repo.changed(history.first, history.second)
    assert {"README.md", "docs/README.md"} <= set(changed or ())


def test_changed_paths_is_unknown_when_github_cannot_say(github: GitHubSource, history: History):
    assert github.changed_paths("0" * 40, history.second) is None  # a new branch
    assert github.changed_paths("3" * 40, history.second) is None  # before was pushed away (404)
    assert github.changed_paths(history.second, history.first) is None  # behind: a reset
    assert github.changed_paths(history.feature, history.second) is None  # behind as well
    history.repo.git("checkout", "-q", "-b", "rewritten", history.first)
    rewritten = history.repo.commit("rewritten", {"other.py": "x = 2\n"})
    assert github.changed_paths(history.second, rewritten) is None  # diverged: a force push


def test_a_compare_of_300_files_or_more_is_unknown(github: GitHubSource, history: History):
    history.repo.git("checkout", "-q", "-b", "big")
    big = history.repo.commit("many files", {f"data/part-{i:03}.csv": f"{i}\n" for i in range(300)})
    assert github.changed_paths(history.second, big) is None
    fewer = history.repo.commit("one more", {"data/part-000.csv": "changed\n"})
    assert github.changed_paths(big, fewer) == ("data/part-000.csv",)

"""AzureDevOpsSource against the local server speaking Azure DevOps' Git REST shapes over a real repository."""

from __future__ import annotations

import base64
import sys
import types
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.repo.archives import SnapshotLimits, read_tree
from shared.repo.azure_devops import AZURE_DEVOPS_SCOPE, AzureDevOpsSource
from shared.repo.fetch import SourceError
from tests.repo.conftest import History
from tests.repo.providers import ADO_PREFIX, Providers


def ado(providers: Providers, **options) -> AzureDevOpsSource:
    return AzureDevOpsSource(providers.ado_organization, "Data Science", "ml", **{"pat": "ado-pat", **options})


def test_resolve_takes_the_branch_of_exactly_that_name(providers: Providers, history: History):
    source = ado(providers)
    assert source.resolve("main") == history.second  # the filter also answers main-old
    assert source.resolve("main-old") == history.first
    assert source.resolve("feature") == history.feature
    with pytest.raises(SourceError, match="has no branch 'mai'"):
        source.resolve("mai")
    _, headers = providers.requests[-1]
    assert headers["authorization"] == "Basic " + base64.b64encode(b":ado-pat").decode()


def test_the_zip_is_the_commits_tree_with_exec_bits(providers: Providers, history: History):
    source = ado(providers)
    for commit in (history.first, history.second):
        tree = read_tree(source.archive(commit), SnapshotLimits(), strip_top_folder=source.strip_top_folder)
        assert {f.path: (f.data, f.executable) for f in tree.files} == history.repo.tree(commit)
        assert tree.commit == commit  # git archive's zip comment


def test_changed_paths_lists_files_not_folders(providers: Providers, history: History):
    changed = ado(providers).changed_paths(history.first, history.second)
    assert changed == history.repo.changed(history.first, history.second)
    assert "docs" not in (changed or ())  # the server lists the new folder docs/ as a change


def test_changed_paths_pages_until_all_changes_are_included(providers: Providers, history: History):
    assert ado(providers, page_size=1).changed_paths(history.first, history.second) == history.repo.changed(
        history.first, history.second)
    pages = providers.paths(f"{ADO_PREFIX}diffs/commits".replace(" ", "%20"))
    # 4 changes: train.py, src/model/net.py, the rename to docs/README.md and the new folder docs
    assert [parse_qs(urlsplit(path).query)["$skip"][0] for path in pages] == ["0", "1", "2", "3"]


def test_changed_paths_is_unknown_for_a_new_branch(providers: Providers, history: History):
    assert ado(providers).changed_paths("0" * 40, history.second) is None


def test_a_wrong_pat_is_refused_and_never_shown(providers: Providers, history: History):
    source = ado(providers, pat="expired-pat")
    for call in (lambda: source.resolve("main"), lambda: source.archive(history.first),
                 lambda: source.changed_paths(history.first, history.second)):
        with pytest.raises(SourceError, match="answered 401") as caught:
            call()
        assert "expired-pat" not in str(caught.value) and base64.b64encode(b":expired-pat").decode() not in str(
            caught.value)


def test_without_a_pat_the_apps_entra_identity_is_used(history: History, monkeypatch):
    scopes: list[tuple[str, ...]] = []

    class Credential:  # stands in for DefaultAzureCredential: a managed identity is not available in a test
        def get_token(self, *requested: str):
            scopes.append(requested)
            return types.SimpleNamespace(token="entra-access-token")

    monkeypatch.setitem(sys.modules, "azure.identity", types.SimpleNamespace(DefaultAzureCredential=Credential))
    server = Providers(history.repo, entra_token="entra-access-token").start()
    try:
        source = AzureDevOpsSource(server.ado_organization, "Data Science", "ml")
        assert source.resolve("main") == history.second
        assert source.changed_paths(history.first, history.second) == history.repo.changed(history.first, history.second)
        assert scopes and set(scopes) == {(AZURE_DEVOPS_SCOPE,)}
        assert {headers["authorization"] for _, headers in server.requests} == {"Bearer entra-access-token"}
    finally:
        server.stop()

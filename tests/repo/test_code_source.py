"""The code-source and snapshot settings, and `code_source(settings)` building the configured source."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.platform.settings import CodeSourceSettings, SettingsError, load_settings
from shared.repo.archives import SnapshotError, SnapshotLimits, snapshot_limits
from shared.repo.azure_devops import AzureDevOpsSource
from shared.repo.git_source import GitSource
from shared.repo.github import GitHubSource
from shared.repo.sources import code_source
from tests.repo.conftest import History
from tests.repo.providers import Providers

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults_configure_no_source_and_the_documented_limits():
    settings = load_settings(BASE)
    assert settings.code_source == CodeSourceSettings()
    assert code_source(settings) is None
    assert snapshot_limits(settings) == SnapshotLimits(max_bytes=50 * 1024 * 1024, max_files=5000)
    assert settings.code_source.github_api_url == "https://api.github.com"


def test_git_source_from_settings(history: History):
    settings = load_settings({**BASE, "DRIFTLINE_CODE_SOURCE": f"git:{history.repo.path}",
                              "DRIFTLINE_SNAPSHOT_MAX_FILES": "2"})
    source = code_source(settings)
    assert isinstance(source, GitSource) and source.name == f"git:{history.repo.path}"
    assert source.resolve("main") == history.second
    with pytest.raises(SnapshotError, match="more than 2 files"):  # the limits reach the source
        source.archive(history.first)


def test_github_source_from_settings(providers: Providers, history: History):
    settings = load_settings({**BASE, "DRIFTLINE_CODE_SOURCE": "github", "DRIFTLINE_GITHUB_REPOSITORY": "acme/ml",
                              "DRIFTLINE_GITHUB_TOKEN": "gh-token", "DRIFTLINE_GITHUB_API_URL": providers.github_api + "/"})
    source = code_source(settings)
    assert isinstance(source, GitHubSource) and source.name == "github:acme/ml"
    assert source.resolve("feature") == history.feature
    assert "gh-token" not in repr(settings)


def test_azure_devops_source_from_settings(providers: Providers, history: History):
    settings = load_settings({**BASE, "DRIFTLINE_CODE_SOURCE": "azure-devops",
                              "DRIFTLINE_ADO_ORGANIZATION_URL": providers.ado_organization,
                              "DRIFTLINE_ADO_PROJECT": "Data Science", "DRIFTLINE_ADO_REPOSITORY": "ml",
                              "DRIFTLINE_ADO_PAT": "ado-pat"})
    source = code_source(settings)
    assert isinstance(source, AzureDevOpsSource)
    assert source.name == f"azure-devops:{providers.ado_organization}/Data Science/ml"
    assert source.resolve("main") == history.second
    assert "ado-pat" not in repr(settings)


@pytest.mark.parametrize("values, name, message", [
    ({"DRIFTLINE_CODE_SOURCE": "gitlab"}, "DRIFTLINE_CODE_SOURCE", "git:<url-or-path>, github or azure-devops"),
    ({"DRIFTLINE_CODE_SOURCE": "git:"}, "DRIFTLINE_CODE_SOURCE", "must be empty, git:<url-or-path>"),
    ({"DRIFTLINE_CODE_SOURCE": "github"}, "DRIFTLINE_CODE_SOURCE", "needs DRIFTLINE_GITHUB_REPOSITORY"),
    ({"DRIFTLINE_GITHUB_REPOSITORY": "just-a-name"}, "DRIFTLINE_GITHUB_REPOSITORY", "'owner/name'"),
    ({"DRIFTLINE_GITHUB_API_URL": "api.github.com"}, "DRIFTLINE_GITHUB_API_URL", "http(s) URL"),
    ({"DRIFTLINE_CODE_SOURCE": "azure-devops", "DRIFTLINE_ADO_PROJECT": "p"}, "DRIFTLINE_CODE_SOURCE",
     "needs DRIFTLINE_ADO_ORGANIZATION_URL, DRIFTLINE_ADO_REPOSITORY"),
    ({"DRIFTLINE_ADO_ORGANIZATION_URL": "dev.azure.com/contoso"}, "DRIFTLINE_ADO_ORGANIZATION_URL", "http(s) URL"),
    ({"DRIFTLINE_SNAPSHOT_MAX_BYTES": "lots"}, "DRIFTLINE_SNAPSHOT_MAX_BYTES", "whole number"),
    ({"DRIFTLINE_SNAPSHOT_MAX_FILES": "0"}, "DRIFTLINE_SNAPSHOT_MAX_FILES", "at least 1"),
])
def test_bad_code_source_settings_name_the_setting(values: dict[str, str], name: str, message: str):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **values})
    assert str(caught.value).startswith(name) and message in str(caught.value)


def test_settings_built_by_hand_without_what_the_kind_needs_are_refused():
    settings = replace(load_settings(BASE), code_source=CodeSourceSettings(kind="github"))
    with pytest.raises(SettingsError, match="DRIFTLINE_CODE_SOURCE=github lacks"):
        code_source(settings)

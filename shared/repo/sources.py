"""Where the watched repository's code comes from: one protocol, three providers, built from settings.

A `CodeSource` answers three questions about the repository:
- `resolve(branch)`: the commit id at the tip of the branch now;
- `archive(commit)`: the repository's tree at exactly that commit, as the provider gives it (tar,
  gzip tar or zip); `shared.repo.snapshots` reads it with limits and checks the commit it declares;
- `changed_paths(before, after)`: the files changed from one commit to the other, sorted; None when
  that is unknown (a new branch, a compare past the provider's cap, a commit pushed away), so the
  caller must assume everything changed.
`name` says where the code came from without credentials (the snapshot manifest records it), and
`strip_top_folder` whether the provider's archive wraps the tree in one folder (GitHub's does).

Failures to get an answer are `SourceError`s (`shared.repo.fetch`); trees Driftline refuses are
`SnapshotError`s (`shared.repo.archives`).

Implementations: `GitSource` (dulwich: a path, file:// or http(s) URL), `GitHubSource` (REST API),
`AzureDevOpsSource` (REST API). `code_source(settings)` builds the one DRIFTLINE_CODE_SOURCE names.
"""

from __future__ import annotations

from typing import Protocol

from shared.platform.errors import SettingsError
from shared.platform.settings import Settings
from shared.repo.archives import snapshot_limits
from shared.repo.azure_devops import AzureDevOpsSource
from shared.repo.git_source import GitSource
from shared.repo.github import GitHubSource


class CodeSource(Protocol):
    """The watched repository at a provider; see the module docstring."""

    @property
    def name(self) -> str: ...

    @property
    def strip_top_folder(self) -> bool: ...

    def resolve(self, branch: str) -> str: ...

    def archive(self, commit: str) -> bytes: ...

    def changed_paths(self, before: str, after: str) -> tuple[str, ...] | None: ...


def code_source(settings: Settings) -> CodeSource | None:
    """The code source the settings configure, None when DRIFTLINE_CODE_SOURCE is empty."""
    configured, limits = settings.code_source, snapshot_limits(settings)
    if configured.kind is None:
        return None
    if configured.kind == "git" and configured.git_location is not None:
        return GitSource(configured.git_location, limits=limits)
    if configured.kind == "github" and configured.github_repository is not None:
        return GitHubSource(configured.github_repository, token=configured.github_token,
                            api_url=configured.github_api_url, limits=limits)
    if (configured.kind == "azure-devops" and configured.ado_organization_url is not None
            and configured.ado_project is not None and configured.ado_repository is not None):
        return AzureDevOpsSource(configured.ado_organization_url, configured.ado_project,
                                 configured.ado_repository, pat=configured.ado_pat, limits=limits)
    raise SettingsError(f"DRIFTLINE_CODE_SOURCE={configured.kind} lacks settings it needs (load_settings names them).")

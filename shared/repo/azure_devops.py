"""Azure DevOps (Azure Repos) as a code source, through its Git REST API (api-version 7.1).

- `resolve(branch)`: `GET .../refs?filter=heads/{branch}`; the filter is a prefix, so the answer's
  entry named exactly `refs/heads/{branch}` gives the `objectId`;
- `archive(commit)`: `GET .../items?path=/&versionDescriptor.version={commit}&versionDescriptor.versionType=commit
  &$format=zip&download=true`, a zip of the tree with its files at the root;
- `changed_paths(before, after)`: `GET .../diffs/commits?baseVersion={before}&targetVersion={after}`
  (both of type commit, `diffCommonCommit=false` so it is the change from `before` to `after` even
  after a force push), paged with `$top`/`$skip` until `allChangesIncluded`; `changes[].item.path`
  of files (folders skipped) and, for renames, the old path. None when `before` is all zeros.

Auth: with a personal access token, basic auth with an empty user (`:PAT`, base64); without one, the
app's Entra identity: `DefaultAzureCredential` (managed identity in Azure, your az login locally) gets
a token for Azure DevOps (`499b84ac-1321-427f-aa17-267ca6975798/.default`), sent as a Bearer token.
azure.identity is imported only then.
"""

from __future__ import annotations

import base64
import urllib.parse
from typing import TYPE_CHECKING, Any

from shared.repo.archives import SnapshotLimits
from shared.repo.fetch import SourceError, check_commit, get_json, http_get, is_zero

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

API_VERSION = "7.1"
AZURE_DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"


class AzureDevOpsSource:
    """One Azure Repos repository: organization URL (https://dev.azure.com/<org>), project, repository."""

    strip_top_folder = False

    def __init__(self, organization_url: str, project: str, repository: str, *, pat: str | None = None,
                 limits: SnapshotLimits = SnapshotLimits(), timeout: float = 30.0, page_size: int = 1000):
        self.repository = f"{organization_url.rstrip('/')}/{project}/{repository}"
        quoted = "/".join(urllib.parse.quote(part, safe="") for part in (project, "_apis", "git", "repositories",
                                                                         repository))
        self._base = f"{organization_url.rstrip('/')}/{quoted}"
        self._pat = pat
        self._credential: TokenCredential | None = None
        self._limits = limits
        self._timeout = timeout
        self._page_size = page_size

    @property
    def name(self) -> str:
        return f"azure-devops:{self.repository}"

    def resolve(self, branch: str) -> str:
        refs = self._json("refs", {"filter": f"heads/{branch}"})
        for ref in refs.get("value", []) if isinstance(refs, dict) else []:
            if isinstance(ref, dict) and ref.get("name") == f"refs/heads/{branch}":
                return check_commit(str(ref.get("objectId", "")))
        raise SourceError(f"{self.name} has no branch {branch!r}.")

    def archive(self, commit: str) -> bytes:
        query = {"path": "/", "versionDescriptor.version": check_commit(commit),
                 "versionDescriptor.versionType": "commit", "$format": "zip", "download": "true"}
        return http_get(self._url("items", query), headers={"Accept": "application/zip"},
                        authorization=self._authorization(), timeout=self._timeout,
                        max_bytes=self._limits.max_archive_bytes)

    def changed_paths(self, before: str, after: str) -> tuple[str, ...] | None:
        if is_zero(before):
            return None
        query: dict[str, Any] = {"baseVersion": check_commit(before), "baseVersionType": "commit",
                                 "targetVersion": check_commit(after), "targetVersionType": "commit",
                                 "diffCommonCommit": "false", "$top": self._page_size}
        paths: set[str] = set()
        skip = 0
        while True:
            page = self._json("diffs/commits", {**query, "$skip": skip})
            changes = page.get("changes") if isinstance(page, dict) else None
            if not isinstance(changes, list):
                raise SourceError(f"{self.name}: the commit diffs answer has no list of changes.")
            paths.update(_changed(changes))
            if page.get("allChangesIncluded", True) or not changes:
                return tuple(sorted(paths))
            skip += len(changes)

    def _url(self, endpoint: str, query: dict[str, Any]) -> str:
        return f"{self._base}/{endpoint}?" + urllib.parse.urlencode({**query, "api-version": API_VERSION}, safe="/$")

    def _json(self, endpoint: str, query: dict[str, Any]) -> Any:
        return get_json(self._url(endpoint, query), headers={"Accept": "application/json"},
                        authorization=self._authorization(), timeout=self._timeout)

    def _authorization(self) -> str:
        if self._pat is not None:
            return "Basic " + base64.b64encode(f":{self._pat}".encode()).decode("ascii")
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return f"Bearer {self._credential.get_token(AZURE_DEVOPS_SCOPE).token}"
        except ClientAuthenticationError as error:
            raise SourceError(f"{self.name}: no Entra token for Azure DevOps ({error.message}); set "
                              "DRIFTLINE_ADO_PAT or give the app's identity access.") from None


def _changed(changes: list[Any]) -> set[str]:
    """The file paths of one page of changes: the item's path, and the old path of a rename."""
    paths = set()
    for change in changes:
        item = change.get("item") if isinstance(change, dict) else None
        if not isinstance(item, dict) or item.get("isFolder") or item.get("gitObjectType") == "tree":
            continue
        for path in (item.get("path"), change.get("sourceServerItem"), change.get("originalPath")):
            if isinstance(path, str) and path.strip("/"):
                paths.add(path.lstrip("/"))
    return paths

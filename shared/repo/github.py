"""GitHub as a code source, through its REST API (api.github.com, or GitHub Enterprise Server's `/api/v3`).

- `resolve(branch)`: `GET /repos/{owner}/{repo}/commits/{branch}` with `Accept: application/vnd.github.sha`,
  whose body is the tip's commit id;
- `archive(commit)`: `GET /repos/{owner}/{repo}/tarball/{commit}`; GitHub answers 302 to codeload, which
  is followed without the token (see `shared.repo.fetch.http_get`). The tarball holds the tree under
  one folder `owner-repo-sha7/` and declares the commit in its pax header, which the snapshot checks;
- `changed_paths(before, after)`: `GET /repos/{owner}/{repo}/compare/{before}...{after}`, the
  `files[].filename` and, for renames, `previous_filename`. None (unknown, so the caller must assume
  everything changed) when `before` is all zeros (a new branch), when the compare lists 300 files
  (GitHub's cap, so some may be missing), when `after` is behind or diverged from `before` (a force
  push: the three-dot compare would not be the change), or when GitHub does not know the pair (404 or
  422: `before` was pushed away).

Every request sends `X-GitHub-Api-Version: 2022-11-28` and, when a token is given (a fine-grained
personal access token or an App installation token), `Authorization: Bearer <token>`; a public
repository needs none.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from shared.repo.archives import SnapshotLimits
from shared.repo.fetch import SourceError, check_commit, get_json, http_get, is_zero

API_VERSION = "2022-11-28"
COMPARE_FILE_CAP = 300  # GitHub lists at most 300 files in a compare


class GitHubSource:
    """One GitHub repository, `owner/name`."""

    strip_top_folder = True

    def __init__(self, repository: str, *, token: str | None = None, api_url: str = "https://api.github.com",
                 limits: SnapshotLimits = SnapshotLimits(), timeout: float = 30.0):
        self.repository = repository
        self._token = token
        self._base = f"{api_url.rstrip('/')}/repos/{repository}"
        self._limits = limits
        self._timeout = timeout

    @property
    def name(self) -> str:
        return f"github:{self.repository}"

    def resolve(self, branch: str) -> str:
        url = f"{self._base}/commits/{urllib.parse.quote(branch, safe='/')}"
        body = http_get(url, headers=self._headers("application/vnd.github.sha"), authorization=self._auth(),
                        timeout=self._timeout, max_bytes=1024)
        return check_commit(body.decode("ascii", "replace"))

    def archive(self, commit: str) -> bytes:
        url = f"{self._base}/tarball/{check_commit(commit)}"
        return http_get(url, headers=self._headers(), authorization=self._auth(), timeout=self._timeout,
                        max_bytes=self._limits.max_archive_bytes)

    def changed_paths(self, before: str, after: str) -> tuple[str, ...] | None:
        if is_zero(before):
            return None
        url = f"{self._base}/compare/{check_commit(before)}...{check_commit(after)}"
        try:
            comparison = get_json(url, headers=self._headers(), authorization=self._auth(), timeout=self._timeout)
        except SourceError as error:
            if error.status in (404, 422):
                return None
            raise
        return _paths(comparison, url)

    def _headers(self, accept: str = "application/vnd.github+json") -> dict[str, str]:
        return {"Accept": accept, "X-GitHub-Api-Version": API_VERSION}

    def _auth(self) -> str | None:
        return None if self._token is None else f"Bearer {self._token}"


def _paths(comparison: Any, url: str) -> tuple[str, ...] | None:
    if not isinstance(comparison, dict) or not isinstance(comparison.get("files", []), list):
        raise SourceError(f"GET {url} answered a compare without a list of files.")
    files = comparison.get("files", [])
    if comparison.get("status") in ("behind", "diverged") or len(files) >= COMPARE_FILE_CAP:
        return None
    paths = {name for entry in files if isinstance(entry, dict)
             for name in (entry.get("filename"), entry.get("previous_filename")) if isinstance(name, str)}
    return tuple(sorted(paths))

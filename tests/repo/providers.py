"""A local HTTP server that speaks GitHub's and Azure DevOps' URL shapes over a real git repository.

Everything it answers is computed from the repository with the git CLI: refs by `git rev-parse` and
`git for-each-ref`, archives by `git archive`, compares and diffs by `git diff --name-status -M`.

GitHub, API base `http://127.0.0.1:<port>/github`, repository `acme/ml`:
- `GET /repos/acme/ml/commits/<branch>` with `Accept: application/vnd.github.sha`: the sha as text;
- `GET /repos/acme/ml/tarball/<sha>`: 302 to `http://localhost:<port>/codeload/...?token=...`, another
  host, which refuses any Authorization header (a client must not carry the token there) and serves
  `git archive --format=tar.gz --prefix=acme-ml-<sha7>/ <sha>`;
- `GET /repos/acme/ml/compare/<before>...<after>`: GitHub's three-dot compare (from the merge base),
  `status`, and at most 300 `files` with `filename`, `status` and `previous_filename` for renames.
Every GitHub API request must send `X-GitHub-Api-Version: 2022-11-28`, and `Authorization: Bearer
<token>` when the server has a token (401 otherwise).

Azure DevOps, organization URL `http://127.0.0.1:<port>/ado/contoso`, project `Data Science`,
repository `ml`, api-version 7.1 on every request:
- `GET .../refs?filter=heads/<prefix>`: every branch whose name starts with it (a prefix, as ADO's is);
- `GET .../items?path=/&versionDescriptor...&$format=zip&download=true`: `git archive --format=zip <sha>`;
- `GET .../diffs/commits?baseVersion=..&targetVersion=..&diffCommonCommit=false&$top&$skip`: the
  changes from base to target, with folder entries for new folders, paged.
Auth: `Basic base64(":<pat>")`, or `Bearer <entra token>` when one is set; no Authorization at all
answers 203 with a sign-in page (as ADO does), a wrong one 401.

`served` maps a requested commit to the commit whose archive is served instead (a provider that
serves the wrong tree); `requests` records every request's path and headers.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.repo.gitrepo import GitRepo

CODELOAD_TOKEN = "codeload-ephemeral"
GITHUB_PREFIX = "/github/repos/acme/ml/"
ADO_PREFIX = "/ado/contoso/Data Science/_apis/git/repositories/ml/"


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, value: Any) -> Answer:
    return Answer(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


class Providers:
    """The server; `github_api` and `ado_organization` are the base URLs a client is given."""

    def __init__(self, repo: GitRepo, *, github_token: str | None = "gh-token", ado_pat: str = "ado-pat",
                 entra_token: str | None = None):
        self.repo = repo
        self.github_token = github_token
        self.ado_pat = ado_pat
        self.entra_token = entra_token
        self.served: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def github_api(self) -> str:
        return f"http://127.0.0.1:{self.port}/github"

    @property
    def ado_organization(self) -> str:
        return f"http://127.0.0.1:{self.port}/ado/contoso"

    def start(self) -> Providers:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self, prefix: str) -> list[str]:
        """The paths requested that start with `prefix`."""
        return [path for path, _ in self.requests if path.startswith(prefix)]

    # -- routing ------------------------------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str]) -> Answer:
        self.requests.append((path, headers))
        parts = urlsplit(path)
        route, query = unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}
        if route.startswith(GITHUB_PREFIX):
            return self._github(route[len(GITHUB_PREFIX):], headers)
        if route.startswith("/codeload/acme/ml/legacy.tar.gz/"):
            return self._codeload(route.rsplit("/", 1)[1], query, headers)
        if route.startswith(ADO_PREFIX):
            return self._ado(route[len(ADO_PREFIX):], query, headers)
        return _json(404, {"message": "Not Found"})

    # -- GitHub -------------------------------------------------------------------------------

    def _github(self, route: str, headers: dict[str, str]) -> Answer:
        if headers.get("x-github-api-version") != "2022-11-28":
            return _json(400, {"message": "X-GitHub-Api-Version 2022-11-28 expected"})
        if self.github_token is not None and headers.get("authorization") != f"Bearer {self.github_token}":
            return _json(401, {"message": "Bad credentials"})
        if route.startswith("commits/"):
            if headers.get("accept") != "application/vnd.github.sha":
                return _json(400, {"message": "this server answers the sha media type only"})
            sha = self._rev(f"refs/heads/{route[len('commits/'):]}")
            return _json(422, {"message": "No commit found"}) if sha is None else Answer(200, sha.encode())
        if route.startswith("tarball/"):
            sha = route[len("tarball/"):]
            location = f"http://localhost:{self.port}/codeload/acme/ml/legacy.tar.gz/{sha}?token={CODELOAD_TOKEN}"
            return Answer(302, b"", {"Location": location})
        if route.startswith("compare/"):
            before, _, after = route[len("compare/"):].partition("...")
            return self._compare(before, after)
        return _json(404, {"message": "Not Found"})

    def _codeload(self, sha: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if "authorization" in headers:
            return Answer(400, b"the API token was sent to codeload")
        if query.get("token") != CODELOAD_TOKEN or self._rev(sha) is None:
            return Answer(404, b"Not Found")
        served = self.served.get(sha, sha)
        data = self.repo.archive(served, "tar.gz", prefix=f"acme-ml-{served[:7]}/")
        return Answer(200, data, {"Content-Type": "application/x-gzip"})

    def _compare(self, before: str, after: str) -> Answer:
        if self._rev(before) is None or self._rev(after) is None:
            return _json(404, {"message": "Not Found"})
        base = self.repo.git("merge-base", before, after)
        status = ("identical" if before == after else "ahead" if base == before
                  else "behind" if base == after else "diverged")
        files = []
        for change in self._name_status(base, after):
            entry = {"filename": change[-1], "status": {"A": "added", "D": "removed", "R": "renamed"}.get(
                change[0][0], "modified")}
            if change[0].startswith("R"):
                entry["previous_filename"] = change[1]
            files.append(entry)
        return _json(200, {"status": status, "files": files[:300]})

    # -- Azure DevOps -------------------------------------------------------------------------

    def _ado(self, route: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if query.get("api-version") != "7.1":
            return _json(400, {"message": "api-version 7.1 expected"})
        given = headers.get("authorization")
        if given is None:
            return Answer(203, b"<html>Sign in to your account</html>", {"Content-Type": "text/html"})
        accepted = {"Basic " + base64.b64encode(f":{self.ado_pat}".encode()).decode()}
        if self.entra_token is not None:
            accepted.add(f"Bearer {self.entra_token}")
        if given not in accepted:
            return _json(401, {"message": "TF400813: not authorized"})
        if route == "refs":
            prefix = "refs/" + query.get("filter", "")
            refs = [line.split(" ") for line in self.repo.git(
                "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/").splitlines()]
            value = [{"name": name, "objectId": sha} for name, sha in refs if name.startswith(prefix)]
            return _json(200, {"value": value, "count": len(value)})
        if route == "items":
            expected = {"path": "/", "versionDescriptor.versionType": "commit", "$format": "zip", "download": "true"}
            sha = query.get("versionDescriptor.version", "")
            if any(query.get(key) != value for key, value in expected.items()) or self._rev(sha) is None:
                return _json(400, {"message": f"unexpected items query {sorted(query.items())}"})
            return Answer(200, self.repo.archive(self.served.get(sha, sha), "zip"), {"Content-Type": "application/zip"})
        if route == "diffs/commits":
            return self._diffs(query)
        return _json(404, {"message": "Not Found"})

    def _diffs(self, query: dict[str, str]) -> Answer:
        expected = {"baseVersionType": "commit", "targetVersionType": "commit", "diffCommonCommit": "false"}
        base, target = query.get("baseVersion", ""), query.get("targetVersion", "")
        if any(query.get(k) != v for k, v in expected.items()) or self._rev(base) is None or self._rev(target) is None:
            return _json(400, {"message": f"unexpected diffs query {sorted(query.items())}"})
        changes: list[dict[str, Any]] = []
        for change in self._name_status(base, target):
            entry: dict[str, Any] = {"item": {"path": "/" + change[-1], "gitObjectType": "blob"},
                                     "changeType": {"A": "add", "D": "delete", "R": "rename"}.get(change[0][0], "edit")}
            if change[0].startswith("R"):
                entry["sourceServerItem"] = "/" + change[1]
            changes.append(entry)
        folders = set(self._folders(target)) - set(self._folders(base))
        changes += [{"item": {"path": "/" + folder, "isFolder": True, "gitObjectType": "tree"}, "changeType": "add"}
                    for folder in folders]
        changes.sort(key=lambda c: c["item"]["path"])
        top, skip = int(query.get("$top", 100)), int(query.get("$skip", 0))
        return _json(200, {"changes": changes[skip:skip + top], "allChangesIncluded": skip + top >= len(changes),
                           "baseCommit": base, "targetCommit": target})

    # -- git ----------------------------------------------------------------------------------

    def _rev(self, ref: str) -> str | None:
        try:
            return self.repo.rev(ref)
        except AssertionError:
            return None

    def _name_status(self, before: str, after: str) -> list[list[str]]:
        return [line.split("\t") for line in self.repo.git("diff", "--name-status", "-M", before, after).splitlines()]

    def _folders(self, commit: str) -> list[str]:
        return self.repo.git("ls-tree", "-r", "-d", "--name-only", commit).splitlines()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        providers = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                answer = providers.answer(self.path, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(answer.status)
                for name, value in {**answer.headers, "Content-Length": str(len(answer.body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

"""What every code source shares: the error it raises, commit ids, and one careful HTTP GET.

`http_get` guarantees:
- a timeout on every request;
- redirects are followed (at most 5), and the Authorization header goes only to the origin (scheme,
  host and port) it was given for, so a redirect to another host (GitHub's codeload) never sees the
  token, and an https origin never sends it over http;
- only a 200 answer is a success: anything else (including Azure DevOps' 203 sign-in page for
  credentials it does not take) is a `SourceError` that names the URL (without its query, where
  redirect tokens live) and the status, never a credential;
- an answer longer than `max_bytes` is refused as it is read, not after.

Uses the standard library only (urllib.request): three GETs per provider need no HTTP library.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from shared.platform.errors import DriftlineError
from shared.repo.archives import COMMIT_ID

JSON_MAX_BYTES = 32 * 1024 * 1024  # an answer of the providers' APIs (a compare of 300 files with patches)
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024


class SourceError(DriftlineError):
    """A code source did not give what was asked: unreachable, credentials refused, no such branch or
    commit, or an answer past its size cap. `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def check_commit(commit: str) -> str:
    """The commit id in lower case; raises SourceError unless it is a full SHA-1 or SHA-256 id."""
    lowered = commit.strip().lower() if isinstance(commit, str) else ""
    if not COMMIT_ID.match(lowered):
        raise SourceError(f"{str(commit)[:80]!r} is not a full commit id (40 or 64 hex digits).")
    return lowered


def is_zero(commit: str) -> bool:
    """Whether the id is all zeros: what a push of a new branch gives as its `before`."""
    return commit.strip("0") == ""


def shown(url: str) -> str:
    """The URL as errors show it: no user info, no query, no fragment."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Turns a redirect into an HTTPError, so `http_get` follows it itself and decides on credentials."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def http_get(url: str, *, headers: Mapping[str, str], authorization: str | None, timeout: float,
             max_bytes: int, max_redirects: int = 5) -> bytes:
    """The body of a 200 answer to GET `url`, following redirects as the module docstring says."""
    origin = _origin(url)
    current = url
    for _ in range(max_redirects + 1):
        request = urllib.request.Request(current, headers={"User-Agent": "driftline", **headers}, method="GET")
        if authorization is not None and _origin(current) == origin:
            request.add_header("Authorization", authorization)
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                if response.status != 200:
                    raise SourceError(f"GET {shown(current)} answered {response.status} {response.reason}, "
                                      "not 200 (Azure DevOps answers 203 when it does not take the credentials).",
                                      response.status)
                return _read_capped(response, max_bytes, current)
        except urllib.error.HTTPError as error:
            location = error.headers.get("Location")
            error.close()
            if error.code in REDIRECTS and location:
                current = urllib.parse.urljoin(current, location)
                continue
            raise SourceError(f"GET {shown(current)} answered {error.code} {error.reason}.", error.code) from None
        except OSError as error:  # URLError, timeouts, refused connections
            reason = getattr(error, "reason", error)
            raise SourceError(f"GET {shown(current)} failed: {reason}.") from None
    raise SourceError(f"GET {shown(url)} redirected more than {max_redirects} times.")


def get_json(url: str, *, headers: Mapping[str, str], authorization: str | None, timeout: float) -> Any:
    """The JSON body of a 200 answer to GET `url`; a body that is not JSON is a SourceError."""
    body = http_get(url, headers=headers, authorization=authorization, timeout=timeout, max_bytes=JSON_MAX_BYTES)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SourceError(f"GET {shown(url)} answered 200 with a body that is not JSON.") from None


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower()


def _read_capped(response: Any, max_bytes: int, url: str) -> bytes:
    chunks, read = [], 0
    while chunk := response.read(CHUNK):
        read += len(chunk)
        if read > max_bytes:
            raise SourceError(f"GET {shown(url)} answered more than {max_bytes} bytes, the most it may.")
        chunks.append(chunk)
    return b"".join(chunks)

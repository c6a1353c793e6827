"""The HTTP GET every provider goes through: redirects and credentials, statuses, size caps, timeouts; commit ids."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.repo.fetch import SourceError, check_commit, http_get, is_zero, shown

SEEN: list[tuple[str, str | None]] = []


class Handler(BaseHTTPRequestHandler):
    """/same -> 302 /final on this origin; /loop -> itself; /final -> 200; /signin -> 203; /big -> 2 MB."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        SEEN.append((self.path, self.headers.get("Authorization")))
        routes = {"/same": (302, {"Location": "/final"}, b""), "/loop": (307, {"Location": "/loop"}, b""),
                  "/final": (200, {}, b"done"), "/signin": (203, {}, b"<html>sign in</html>"),
                  "/big": (200, {}, bytes(2 * 1024 * 1024))}
        status, headers, body = routes.get(self.path.split("?")[0], (404, {}, b"no"))
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    SEEN.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def get(url: str, **options) -> bytes:
    return http_get(url, **{"headers": {}, "authorization": "Bearer t0ken", "timeout": 5.0, "max_bytes": 1024 * 1024,
                            **options})


def test_a_redirect_on_the_same_origin_keeps_the_credentials(server: str):
    assert get(f"{server}/same") == b"done"
    assert SEEN == [("/same", "Bearer t0ken"), ("/final", "Bearer t0ken")]


def test_a_redirect_loop_is_a_source_error(server: str):
    with pytest.raises(SourceError, match="redirected more than 5 times"):
        get(f"{server}/loop")


def test_only_200_is_a_success(server: str):
    with pytest.raises(SourceError, match="answered 203") as caught:
        get(f"{server}/signin?api-version=7.1")
    assert caught.value.status == 203 and "api-version" not in str(caught.value)
    with pytest.raises(SourceError, match="answered 404"):
        get(f"{server}/missing")


def test_an_answer_past_the_cap_is_refused(server: str):
    with pytest.raises(SourceError, match="more than 1048576 bytes"):
        get(f"{server}/big")


def test_a_server_that_does_not_answer_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match="failed"):
            get(f"http://127.0.0.1:{listener.getsockname()[1]}/slow", timeout=0.5)
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_errors_show_urls_without_credentials_or_query():
    assert shown("https://user:secret@codeload.example.com/a/b?token=xyz#f") == "https://codeload.example.com/a/b"


def test_commit_ids():
    assert check_commit(" " + "AB" * 20 + "\n") == "ab" * 20
    assert check_commit("c" * 64) == "c" * 64
    for bad in ("main", "abc123", "g" * 40, "a" * 41):
        with pytest.raises(SourceError, match="not a full commit id"):
            check_commit(bad)
    assert is_zero("0" * 40) and not is_zero("0" * 39 + "1")

"""Hostile inputs to the HTTP API, as tables a test (or a later reliability suite) walks.

Each entry is (label, body bytes); every JSON route must answer each with a 4xx JSON error, never a
5xx, and act on none. `HOSTILE_RUN_IDS` and `HOSTILE_MODEL_NAMES` are route parameters that must be
refused (400) before any storage path is built from them. `HOSTILE_LAKE_NAMES` are (label, blob name,
words of the reason) of lake uploads whose names a path cannot hold: refused with that reason kept.
"""

from __future__ import annotations

import base64
import json

from shared.platform import signatures

DEPTH = 10_000

HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("array nested 10,000 deep", b"[" * DEPTH + b"]" * DEPTH),
    ("object nested 10,000 deep", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH),
    ("mixed nesting 10,000 deep", b'[{"a":' * (DEPTH // 2) + b"1" + b"}]" * (DEPTH // 2)),
    ("unclosed arrays 100,000 deep", b"[" * 100_000),
    ("nesting 33 deep, just past the limit", b"[" * 33 + b"]" * 33),
    ("records nested 10,000 deep", b'{"records": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"),
    ("100,001 items", json.dumps({"records": [{}] * 100_001, "labels": [0] * 100_001}).encode()),
    ("2 MiB string field", json.dumps({"records": [{"x1": "a" * (2 * 1024 * 1024)}]}).encode()),
    ("not JSON", b"{not json"),
    ("empty body", b""),
    ("not UTF-8", b'{"by": "\xff\xfe", "reason": "x"}'),
    ("mismatched brackets", b'[{"a": 1]}'),
    ("bare null", b"null"),
    ("a JSON string of brackets", json.dumps("[" * DEPTH).encode()),
    ("NUL bytes", b'{"records": [{"x1": "\x00"}]}\x00'),
]

HOSTILE_RUN_IDS = ["..", "%2E%2E", "%2e%2e%2f", "..%2F..%2Fetc", "../x", "a/b", "a\\b", "a\x00b", "é", "x" * 65,
                   "", " ", "abc.json"]
HOSTILE_MODEL_NAMES = ["..", "%2E%2E", "..%2Fetc", "../x", "a/b", ".hidden", "-dash", "a\x00b", "x" * 101, "", "é"]

HOSTILE_LAKE_NAMES = [
    ("dot-dot segment", "labeled/../models/x.csv", "'..' segment"),
    ("dot segment", "labeled/a/./b.csv", "'..' segment"),
    ("nested dot-dot", "labeled/a/b/../../../runs/x.csv", "'..' segment"),
    ("empty segment", "labeled/a//b.csv", "empty segment"),
    ("control character", "labeled/bad\x01name.csv", "control characters (U+0001)"),
    ("newline", "labeled/line\nbreak.csv", "control characters (U+000A)"),
    ("DEL", "labeled/del\x7f.csv", "control characters (U+007F)"),
    ("backslash", "labeled/a\\..\\b.csv", "backslash"),
    ("trailing dot", "labeled/tail.", "ends with a dot"),
    ("1,000 characters", "labeled/" + "n" * 988 + ".csv", "1000 characters"),
    ("1,010 characters", "labeled/" + "n" * 998 + ".csv", "1010 characters"),
    ("1,024 characters", "labeled/" + "n" * 1012 + ".csv", "1024 characters"),
    ("incoming dot-dot", "incoming/../labeled/x.csv", "'..' segment"),
]


def caller_headers(function: str, raw: bytes, *, github_secret: str, ado_secret: str) -> dict[str, str]:
    """The headers a route's own caller sends with `raw`: the webhooks signed or authenticated with
    the given secrets, so a hostile body is read, not refused at the door."""
    headers = {"Content-Type": "application/json"}
    if function == "hooks_github":
        headers.update({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
                        "X-Hub-Signature-256": signatures.sign(github_secret, raw)})
    if function == "hooks_azure_devops":
        headers["Authorization"] = "Basic " + base64.b64encode(f"x:{ado_secret}".encode()).decode()
    return headers

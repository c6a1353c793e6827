"""Every route the OpenAPI description names (functions/openapi.json, checked against the app by
tests/api/test_openapi.py), called through the app's own functions with every hostile body and every
hostile id or name in its path parameters. A case is clean when the route answers below 500 with a
non-empty body; an exception or a 5xx is counted against it."""

from __future__ import annotations

import json
from pathlib import Path

import azure.functions as func

from tests.helpers.hostile import HOSTILE_BODIES, HOSTILE_MODEL_NAMES, HOSTILE_RUN_IDS, caller_headers
from tests.reliability.conftest import ADO_SECRET, GITHUB_SECRET

OPENAPI = Path(__file__).resolve().parents[2] / "functions" / "openapi.json"
HOSTILE_PARAMS = {"run_id": HOSTILE_RUN_IDS, "name": HOSTILE_MODEL_NAMES, "report": HOSTILE_RUN_IDS}


def operations() -> list[tuple[str, str, str]]:
    """(function name, method, path) of every documented operation."""
    paths = json.loads(OPENAPI.read_text())["paths"]
    return [(operation["operationId"], method.upper(), path)
            for path, methods in paths.items() for method, operation in methods.items()]


def request(name: str, method: str, raw: bytes, params: dict[str, str]) -> func.HttpRequest:
    """As its caller would send it: webhooks signed or authenticated, so their bodies are read."""
    headers = caller_headers(name, raw, github_secret=GITHUB_SECRET, ado_secret=ADO_SECRET)
    return func.HttpRequest(method, "http://localhost/api/x", headers=headers, route_params=params, body=raw)


def judge(tally, label: str, call) -> None:
    try:
        response = call()
    except Exception as error:  # the case's finding, counted and named
        tally.case(label, f"{type(error).__name__}: {error}", "unhandled")
        return
    body = response.get_body()
    if response.status_code >= 500:
        tally.case(label, f"{response.status_code} {body[:120]!r}", "5xx")
    elif not body:
        tally.case(label, f"{response.status_code} with an empty body", "5xx")
    else:
        tally.case(label)


def test_every_route_with_every_hostile_body_and_parameter(functions, serving, tally):
    for name, method, path in operations():
        params = {key: "abc" for key in HOSTILE_PARAMS if "{" + key + "}" in path}
        for label, raw in HOSTILE_BODIES:
            judge(tally, f"{method} {path} body {label}", lambda: functions[name](request(name, method, raw, params)))
        for key in params:
            for value in HOSTILE_PARAMS[key]:
                hostile = {**params, key: value}
                judge(tally, f"{method} {path} {key}={value[:30]!r}",
                      lambda: functions[name](request(name, method, b"{}", hostile)))
    assert tally.counts["cases"] >= 80
    tally.assert_clean()

"""HTTP triggers through the runner: routes, methods, auth levels, outputs, errors, the real app."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def test_route_parameters_query_and_queue_output(make_host, names, probe):
    host = make_host()
    response = requests.get(f"{host.url}/api/items/42?color=red", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"item_id": "42", "method": "GET", "query": {"color": "red"}}

    response = requests.post(f"{host.url}/api/items/7", data=b"hello queue", timeout=10)
    assert response.status_code == 200 and response.json()["method"] == "POST"
    assert probe.messages(names["SAMPLE_HTTP_QUEUE"]) == ["hello queue"]


def test_unknown_route_404_wrong_method_405_catch_all(make_host):
    host = make_host()
    assert requests.get(f"{host.url}/api/nothing-here", timeout=10).status_code == 404
    assert requests.get(f"{host.url}/items/42", timeout=10).status_code == 404  # no route prefix
    response = requests.delete(f"{host.url}/api/items/42", timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    response = requests.request("QUERY", f"{host.url}/api/items/42", timeout=10)  # not http.server's 501
    assert response.status_code == 405 and response.headers["Allow"] == "GET, POST"
    assert requests.request("PROPFIND", f"{host.url}/api/nothing-here", timeout=10).status_code == 404
    response = requests.get(f"{host.url}/api/files/a/b/c.txt", timeout=10)
    assert response.status_code == 200 and response.text == "a/b/c.txt"


def test_keys_not_enforced_by_default(make_host):
    host = make_host()
    assert requests.get(f"{host.url}/api/items/1", timeout=10).status_code == 200


def test_require_keys(make_host):
    host = make_host(require_keys=True, settings={"DEVHOST_FUNCTION_KEY": "s3cret"})
    url = f"{host.url}/api/items/1"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"x-functions-key": "wrong"}, timeout=10).status_code == 401
    assert requests.get(url, headers={"x-functions-key": "s3cret"}, timeout=10).status_code == 200
    assert requests.get(url, params={"code": "s3cret"}, timeout=10).status_code == 200
    assert requests.get(f"{host.url}/api/open", timeout=10).status_code == 200  # anonymous


def test_exception_is_500_and_logged_with_traceback(make_host, caplog):
    host = make_host()
    with caplog.at_level(logging.INFO, logger="devhost"):
        assert requests.get(f"{host.url}/api/boom", timeout=10).status_code == 500
        assert requests.get(f"{host.url}/api/open", timeout=10).status_code == 200
    failed = [r for r in caplog.records if "Executed 'Functions.boom' (Failed, Id=" in r.getMessage()]
    assert len(failed) == 1 and "RuntimeError: boom on purpose" in failed[0].getMessage()
    ok = [r.getMessage() for r in caplog.records if "Executed 'Functions.open_door' (Succeeded" in r.getMessage()]
    assert len(ok) == 1 and "Duration=" in ok[0] and "http GET /api/open" in ok[0]


def test_functions_listing_and_started_log(make_host, caplog):
    with caplog.at_level(logging.INFO, logger="devhost"):
        host = make_host()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Functions:" in text and "Host started" in text
    assert f"echo: [GET,POST] {host.url}/api/items/{{item_id}}" in text
    assert "relay: queueTrigger (queue: in-" in text
    assert "on_grid: blobTrigger (path: sample-" in text and "source: EventGrid" in text


def test_real_function_app_health(make_host, connection_string):
    """The project's app with its documented settings; its non-HTTP functions are switched off with
    the host's `AzureWebJobs.<name>.Disabled` setting so they do not consume other tests' data."""
    from devhost import load_local_settings
    from devhost.metadata import app_functions
    from function_app import app

    settings = load_local_settings(ROOT / "local.settings.example.json", {})
    settings["AzureWebJobsStorage"] = connection_string
    for function in app_functions(app):
        if not function.is_http_function():
            settings[f"AzureWebJobs.{function.get_function_name()}.Disabled"] = "true"
    host = make_host(app=app, settings=settings, host_json=ROOT / "host.json")
    assert [spec.trigger_type for spec in host.functions] == ["httpTrigger"] * len(host.functions)
    response = requests.get(f"{host.url}/api/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.fixture
def fresh_app_state():
    """The app's per-process settings and scorer forgotten before and after (other tests run the app
    with other settings in this process)."""
    from shared.platform import context
    from shared.serving import scoring

    scoring.reset()
    context.reset()
    yield
    scoring.reset()
    context.reset()


def test_real_function_app_answers_hostile_requests_with_json_4xx(make_host, connection_string, fresh_app_state):
    """Over real HTTP: hostile bodies to every JSON route and percent-encoded '..' run ids get a 4xx
    JSON error, never an (empty) 500, from the runner or the app."""
    from devhost import load_local_settings
    from devhost.metadata import app_functions
    from function_app import app
    from tests.helpers.hostile import HOSTILE_BODIES

    settings = load_local_settings(ROOT / "local.settings.example.json", {})
    settings["AzureWebJobsStorage"] = connection_string
    for function in app_functions(app):
        if not function.is_http_function():
            settings[f"AzureWebJobs.{function.get_function_name()}.Disabled"] = "true"
    host = make_host(app=app, settings=settings, host_json=ROOT / "host.json")
    routes = ["score", "feedback", "runs/abc/approve", "runs/abc/reject", "models/m/rollback", "hooks/github",
              "hooks/azure-devops"]
    for label, raw in HOSTILE_BODIES:
        for route in routes:
            response = requests.post(f"{host.url}/api/{route}", data=raw, timeout=60,
                                     headers={"Content-Type": "application/json"})
            assert 400 <= response.status_code < 500, (label, route, response.status_code, response.content[:200])
            assert response.json()["error"], (label, route)
    for run_id in ("%2E%2E", "..%2F..%2Fetc", "%2e%2e%5cx", "a%00b", "%C3%A9"):
        for path in (f"runs/{run_id}", f"runs/{run_id}/approve", f"runs/{run_id}/reject"):
            method = requests.get if path.count("/") == 1 else requests.post
            response = method(f"{host.url}/api/{path}", data=b'{"reason": "x"}', timeout=30)
            assert response.status_code == 400 and "run id" in response.json()["error"], (path, response.content)

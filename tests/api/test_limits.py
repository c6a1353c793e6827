"""Request limits on every route: body size, JSON depth and array length (413 or 400, with a JSON error),
and hostile ids and model names refused before any storage path is built. No route answers a 5xx."""

from __future__ import annotations

import json

import pytest

from shared.platform import bodies, names
from shared.platform.errors import BadRequest, PayloadTooLarge
from shared.serving import scoring
from tests.helpers.api import payload, point, register_version, rows
from tests.helpers.hostile import HOSTILE_BODIES, HOSTILE_MODEL_NAMES, HOSTILE_RUN_IDS, caller_headers

GITHUB_SECRET = "limits-github-secret"
ADO_SECRET = "limits-ado-secret"
JSON_ROUTES = ["score", "feedback", "approve_run", "reject_run", "rollback_model", "hooks_github", "hooks_azure_devops"]
ALL_ROUTES = [*JSON_ROUTES, "model_overview", "model_lineage", "run_timeline"]
LIMITS = bodies.Limits(max_bytes=1024 * 1024, max_depth=32, max_items=10_000)


@pytest.fixture
def hooks_env(api_env, monkeypatch):
    from shared.platform import context

    monkeypatch.setenv("DRIFTLINE_GITHUB_SECRET", GITHUB_SECRET)
    monkeypatch.setenv("DRIFTLINE_ADO_SECRET", ADO_SECRET)
    context.reset()


@pytest.fixture
def production(api_env, storage, model_name, trained):
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))


def post(call, name: str, raw: bytes, model_name: str = "m"):
    """POST `raw` to a route as its caller would (webhooks signed / authenticated, so the body is read)."""
    headers = caller_headers(name, raw, github_secret=GITHUB_SECRET, ado_secret=ADO_SECRET)
    method = "GET" if name in ("model_overview", "model_lineage", "run_timeline") else "POST"
    return call(name, method=method, raw=raw, headers=headers, route_params={"run_id": "abc", "name": model_name})


def answer(response) -> tuple[int, dict]:
    assert response.mimetype == "application/json"
    return response.status_code, json.loads(response.get_body())


@pytest.mark.parametrize("name", JSON_ROUTES)
@pytest.mark.parametrize("label, raw", HOSTILE_BODIES, ids=[label for label, _ in HOSTILE_BODIES])
def test_hostile_bodies_get_a_4xx_json_error_on_every_json_route(call, hooks_env, storage, name, label, raw):
    status, body = answer(post(call, name, raw))
    assert 400 <= status < 500 and isinstance(body["error"], str) and body["error"]
    assert not list(storage.list(names.RUNS)) and not list(storage.list(names.HOOKS))  # nothing acted on


@pytest.mark.parametrize("name", ALL_ROUTES)
def test_a_body_past_the_size_limit_is_413_on_every_route(call, hooks_env, monkeypatch, name):
    from shared.platform import context

    monkeypatch.setenv("DRIFTLINE_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("DRIFTLINE_WEBHOOK_MAX_BYTES", "2048")
    context.reset()
    status, body = answer(post(call, name, json.dumps({"pad": "x" * 4096}).encode()))
    assert status == 413 and "limit is 2048" in body["error"] and body["limit"] == 2048


def test_a_nesting_of_10000_is_refused_before_the_parser_runs(monkeypatch):
    def parser_must_not_run(*args, **kwargs):
        raise AssertionError("json.loads reached")

    monkeypatch.setattr(bodies.json, "loads", parser_must_not_run)
    with pytest.raises(PayloadTooLarge, match="deeper than 32"):
        bodies.parse_json(b"[" * 10_000 + b"]" * 10_000, LIMITS, "x")


def test_depth_counts_brackets_outside_strings_only():
    assert bodies.nesting_depth(b'{"a": "[[[[{{{{", "b": ["\\"]]]"]}', 32) == 2
    assert bodies.nesting_depth(b"[[1, [2]], {}]", 32) == 3
    assert bodies.nesting_depth(b"1", 32) == 0
    assert bodies.nesting_depth(b"[[]", 32) is None and bodies.nesting_depth(b"[}", 32) is None
    assert bodies.nesting_depth(b"[" * 500 + b"]" * 500, 32) == 33  # stops counting past the limit
    assert bodies.parse_json(b"[" * 32 + b"]" * 32, LIMITS, "x") == bodies.parse_json(b"[" * 32 + b"]" * 32, LIMITS, "x")


def test_arrays_are_limited_wherever_they_are():
    assert bodies.parse_json(json.dumps({"a": [[0] * 10_000]}).encode(), LIMITS, "x") == {"a": [[0] * 10_000]}
    with pytest.raises(PayloadTooLarge, match="more than 10000 items"):
        bodies.parse_json(json.dumps({"a": {"b": [0] * 10_001}}).encode(), LIMITS, "x")
    with pytest.raises(BadRequest, match="must be JSON: a thing"):
        bodies.parse_json(b"\xff", LIMITS, "a thing")


def test_100000_feedback_items_are_refused_with_nothing_written(call, production, storage, trained):
    scored = payload(call("score", method="POST", body={"records": rows(trained[0], 3)}))
    scoring.instance().flush()
    items = [{"request_id": scored["request_id"], "labels": [1, 0, 1]}] * 100_000
    status, body = answer(call("feedback", method="POST", body={"request_id": scored["request_id"],
                                                              "labels": [0] * 100_000}))
    assert status == 413 and "10000 items" in body["error"]
    assert answer(call("feedback", method="POST", body=items))[0] == 413
    assert not list(storage.list(names.DATALAKE, names.FEEDBACK_PREFIX))


def test_a_score_body_past_the_limit_writes_no_scoring_log(call, production, storage, trained):
    records = rows(trained[0], 50)
    big = {"records": [{**records[i % len(records)], "pad": "x" * 1000} for i in range(2000)]}  # ~2 MB
    status, body = answer(call("score", method="POST", body=big))
    assert status == 413
    scoring.instance().flush()
    assert not list(storage.list(names.DATALAKE, names.SCORING_LOG_PREFIX))


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
def test_hostile_run_ids_are_400_on_every_run_route(call, api_env, storage, run_id):
    decision = json.dumps({"by": "ana", "reason": "ok"}).encode()
    responses = [call("run_timeline", route_params={"run_id": run_id})]
    responses += [call(name, method="POST", raw=decision, route_params={"run_id": run_id})
                  for name in ("approve_run", "reject_run")]
    for response in responses:
        status, body = answer(response)
        assert status == 400 and "run id" in body["error"]
    assert not list(storage.list(names.RUNS))


@pytest.mark.parametrize("model", HOSTILE_MODEL_NAMES)
def test_hostile_model_names_are_400_on_every_model_route(call, api_env, storage, model):
    decision = json.dumps({"by": "ana", "reason": "ok"}).encode()
    responses = [call(name, route_params={"name": model}) for name in ("model_overview", "model_lineage")]
    responses.append(call("rollback_model", method="POST", raw=decision, route_params={"name": model}))
    for response in responses:
        status, body = answer(response)
        assert status == 400 and "model name" in body["error"]
    assert not list(storage.list(names.MODELS))

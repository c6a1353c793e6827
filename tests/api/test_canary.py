"""Canary routing through /api/score, and the canary counters scoring and feedback record."""

from __future__ import annotations

import pytest

from shared.model import deploy
from shared.model.canary import canary_stats
from shared.serving import scoring
from tests.helpers.api import payload, point, register_version, rows


@pytest.fixture
def canary(api_env, storage, model_name, trained, monkeypatch):
    """Version 1 in production, version 2 as a 50% canary; counters flushed every 4 requests."""
    monkeypatch.setenv("DRIFTLINE_CANARY_FLUSH_REQUESTS", "4")
    scoring.reset()
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))
    point(storage, model_name, register_version(storage, model_name, trained[1], run_id="run0002"),
          alias="canary", percent=50)


def test_routing_is_deterministic_by_request_key(call, canary, storage, model_name, trained):
    from shared.model import registry

    document = registry.aliases(storage, model_name)[0]
    served = {}
    for key in (f"caller-{i}" for i in range(12)):
        versions = {
            payload(call("score", method="POST", body=rows(trained[0], 1), headers={"X-Request-Key": key}))["version"]
            for _ in range(3)
        }
        alias = deploy.route(model_name, key, document)
        assert versions == {document["aliases"][alias]["version"]}
        served[key] = versions.pop()
    assert set(served.values()) == {1, 2}  # both versions serve some callers


def test_request_id_routes_when_no_key_header_and_alias_is_reported(call, canary, model_name, trained):
    from shared.model import registry

    document = registry.aliases(scoring.instance().storage, model_name)[0]
    for request_id in (f"rq{i}" for i in range(8)):
        response = call("score", method="POST", body={"records": rows(trained[0], 1), "request_id": request_id})
        body = payload(response)
        assert body["alias"] == deploy.route(model_name, request_id, document)
        assert body["version"] == (2 if body["alias"] == "canary" else 1)
        assert response.headers["X-Model-Version"] == str(body["version"])


def test_counters_are_flushed_in_batches_not_per_request(call, canary, storage, model_name, trained):
    for i in range(6):
        call("score", method="POST", body={"records": rows(trained[0], 1), "request_id": f"c{i}"})
    scorer = scoring.instance()
    scorer.log.wait()  # the 4th request handed one flush to the background writer
    assert scorer.canary.flushes in (1, 2)  # one ETag write per alias that served, not six
    counted = canary_stats(storage, model_name)["aliases"]
    assert sum(v["requests"] for v in counted.values()) == 4

    scorer.flush()
    counted = canary_stats(storage, model_name)["aliases"]
    assert sum(v["requests"] for v in counted.values()) == 6
    assert all(v["errors"] == 0 and v["latency_ms_sum"] > 0 for v in counted.values())


def test_feedback_on_requests_served_during_a_canary_counts_correct_and_total(call, canary, storage, model_name, trained):
    from shared.model import registry

    document = registry.aliases(storage, model_name)[0]
    key = next(f"fb{i}" for i in range(100) if deploy.route(model_name, f"fb{i}", document) == "canary")
    answer = payload(call("score", method="POST", body={"records": rows(trained[0], 3), "request_id": key}))
    assert answer["alias"] == "canary"
    labels = [answer["predictions"][0], 1 - answer["predictions"][1], answer["predictions"][2]]
    scoring.instance().flush()  # joined from the written batch, where the canary flag is a log field
    feedback = call("feedback", method="POST", body={"request_id": answer["request_id"], "labels": labels})
    assert feedback.status_code == 201
    scoring.instance().flush()
    stats = canary_stats(storage, model_name)["aliases"]["canary"]
    assert (stats["feedback_correct"], stats["feedback_total"]) == (2, 3)

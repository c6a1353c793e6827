"""POST /api/score against a real registry, through the app's HTTP function."""

from __future__ import annotations

import pytest

from shared.serving import scoring
from shared.serving.scoring_log import LogRef
from tests.helpers.api import FEATURES, payload, point, register_version, rows
from tests.helpers.memory import MEMORY_CONNECTION


@pytest.fixture
def production(api_env, storage, model_name, trained):
    """Version 1 of the model, in production."""
    version = register_version(storage, model_name, trained[0], run_id="run0001")
    point(storage, model_name, version)
    return version


def test_score_returns_the_production_models_predictions_and_version(call, production, trained):
    records = rows(trained[0], 5)
    response = call("score", method="POST", body={"records": records, "request_id": "req-1"})

    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == "1"
    body = payload(response)
    expected = trained[0].estimator.predict(trained[0].frame[list(FEATURES)].head(5)).tolist()
    assert body["predictions"] == expected
    assert body["version"] == 1 and body["alias"] == "production"
    assert body["client_request_id"] == "req-1"  # the caller's id is echoed; the join id is the server's
    assert LogRef.parse(body["request_id"]) is not None
    assert len(body["probabilities"]) == 5 and body["classes"] == [0, 1]
    assert all(abs(sum(p) - 1) < 1e-9 for p in body["probabilities"])


def test_a_bare_list_is_accepted_and_gets_a_request_id(call, production, trained):
    response = call("score", method="POST", body=rows(trained[0], 2))
    body = payload(response)
    assert response.status_code == 200
    assert len(body["predictions"]) == 2 and "client_request_id" not in body
    ref = LogRef.parse(body["request_id"])
    assert ref is not None and ref.instance == scoring.instance().log.instance


def test_numeric_strings_are_accepted_and_extra_fields_ignored(call, production, trained):
    record = rows(trained[0], 1)[0]
    plain = payload(call("score", method="POST", body=[record]))["predictions"]
    loose = {"x1": str(record["x1"]), "x2": record["x2"], "n": float(record["n"]), "customer": "c-9"}
    assert payload(call("score", method="POST", body=[loose]))["predictions"] == plain


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.pop("x2"), ["record 1", "'x2'", "missing"]),
        (lambda r: r.update(x1="tall"), ["record 1", "'x1'", "number", "'tall'"]),
        (lambda r: r.update(n=2.5), ["record 1", "'n'", "integer"]),
        (lambda r: r.update(x1=None), ["record 1", "'x1'", "null"]),
        (lambda r: r.update(x2=True), ["record 1", "'x2'", "number"]),
    ],
    ids=["missing", "non-numeric", "fractional-int", "null", "bool-for-number"],
)
def test_schema_violations_are_400_naming_record_and_field(call, production, trained, change, words):
    records = rows(trained[0], 3)
    change(records[1])
    response = call("score", method="POST", body={"records": records})
    assert response.status_code == 400
    message = payload(response)["error"]
    assert all(word in message for word in words), message


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"not json", ["JSON"]),
        (b'{"rows": []}', ["records"]),
        (b'{"records": []}', ["non-empty"]),
        (b'{"records": [1]}', ["record 0", "object"]),
        (b'{"records": [{}], "request_id": "../x"}', ["request_id"]),
    ],
)
def test_malformed_bodies_are_400(call, production, raw, words):
    response = call("score", method="POST", raw=raw)
    assert response.status_code == 400
    assert all(word in payload(response)["error"] for word in words)


def test_no_production_version_is_503(call, api_env, storage, model_name, trained):
    response = call("score", method="POST", body=rows(trained[0], 1))
    assert response.status_code == 503
    assert "no production version" in payload(response)["error"]

    register_version(storage, model_name, trained[0], run_id="run0001")  # registered, not deployed
    response = call("score", method="POST", body=rows(trained[0], 1))
    assert response.status_code == 503


def test_alias_move_is_served_next_request_without_a_download_per_request(call, production, storage, model_name, trained):
    records = rows(trained[0], 4)
    for _ in range(5):
        assert payload(call("score", method="POST", body=records))["version"] == 1
    cache = scoring.instance().cache
    assert (cache.downloads, cache.alias_reads, cache.etag_checks) == (1, 1, 5)

    version = register_version(storage, model_name, trained[1], run_id="run0002")
    point(storage, model_name, version)
    body = payload(call("score", method="POST", body=records))
    assert body["version"] == 2
    assert body["predictions"] == trained[1].estimator.predict(trained[0].frame[list(FEATURES)].head(4)).tolist()
    for _ in range(3):
        call("score", method="POST", body=records)
    assert (cache.downloads, cache.alias_reads, cache.etag_checks) == (2, 2, 9)


def test_alias_is_checked_at_most_once_per_interval(storage, model_name, trained):
    """With a 60 s interval and a hand-driven clock: no HEAD request inside the interval, so a moved
    alias is seen only once the interval has passed."""
    from shared.platform.settings import load_settings

    version = register_version(storage, model_name, trained[0], run_id="run0001")
    point(storage, model_name, version)
    settings = load_settings({"AzureWebJobsStorage": MEMORY_CONNECTION, "DRIFTLINE_MODEL_NAME": model_name,
                              "DRIFTLINE_ALIAS_CHECK_SECONDS": "60"})
    now = [1000.0]
    scorer = scoring.Scorer.create(storage, settings)
    scorer.cache.clock = lambda: now[0]
    try:
        assert scorer.score(rows(trained[0], 1)).version == 1
        point(storage, model_name, register_version(storage, model_name, trained[1], run_id="run0002"))
        now[0] += 59
        assert scorer.score(rows(trained[0], 1)).version == 1
        assert scorer.cache.etag_checks == 1
        now[0] += 1
        assert scorer.score(rows(trained[0], 1)).version == 2
        assert scorer.cache.etag_checks == 2
    finally:
        scorer.close()


def test_versions_no_alias_points_at_are_dropped_from_the_cache(call, production, storage, model_name, trained):
    call("score", method="POST", body=rows(trained[0], 1))
    registry_v2 = register_version(storage, model_name, trained[1], run_id="run0002")
    point(storage, model_name, registry_v2)
    call("score", method="POST", body=rows(trained[0], 1))
    cache = scoring.instance().cache
    assert set(cache._models) == {(model_name, 1, ""), (model_name, 2, "")}  # v1 is still `previous`

    registry_v3 = register_version(storage, model_name, trained[0], run_id="run0003")
    point(storage, model_name, registry_v3)
    call("score", method="POST", body=rows(trained[0], 1))
    assert set(cache._models) == {(model_name, 2, ""), (model_name, 3, "")}

"""POST /api/feedback: labels joined to logged inputs by the server's request id, written as labeled CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from shared.platform import context, names
from shared.serving import scoring
from shared.platform.errors import NotFound
from shared.serving.feedback import record
from shared.serving.scoring_log import LogRef, log_prefix
from tests.helpers.api import FEATURES, payload, point, register_version, rows

RID = "<the scored request id>"


@pytest.fixture
def production(api_env, storage, model_name, trained):
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))


@pytest.fixture
def scored(production, call, trained, unique):
    """A request of 3 records scored by version 1 (with a client id of its own), with its log written."""
    answer = payload(call("score", method="POST", body={"records": rows(trained[0], 3), "request_id": f"mine-{unique}"}))
    scoring.instance().flush()
    return answer


@pytest.fixture
def rid(scored) -> str:
    """The request id /api/score issued: the one feedback joins by."""
    return scored["request_id"]


def labeled_rows(storage, blob: str) -> list[dict[str, str]]:
    container, name = blob.split("/", 1)
    return list(csv.DictReader(io.StringIO(storage.get_bytes(container, name)[0].decode())))


def labeled_files(storage, rid: str) -> list[str]:
    return [item.name for item in storage.list(names.DATALAKE, names.FEEDBACK_PREFIX) if f"/{rid}" in item.name]


def test_labels_are_joined_from_the_log_batch_and_written_as_labeled_csv(call, scored, storage, model_name, trained, rid):
    response = call("feedback", method="POST", body={"request_id": rid, "labels": [1, 0, 1]})

    assert response.status_code == 201
    result = payload(response)["results"][0]
    assert result["status"] == "recorded" and result["rows"] == 3
    assert result["blob"].startswith(f"{names.DATALAKE}/{names.FEEDBACK_PREFIX}") and result["blob"].endswith(f"/{rid}.csv")
    table = labeled_rows(storage, result["blob"])
    assert list(table[0]) == [*FEATURES, "label"]
    assert [r["label"] for r in table] == ["1", "0", "1"]
    expected = rows(trained[0], 3)
    assert [[float(r["x1"]), float(r["x2"]), int(r["n"])] for r in table] == [list(e.values()) for e in expected]
    # the join read the batch file the id names; nothing but batch files is logged per request
    logged = [item.name for item in storage.list(names.DATALAKE, log_prefix(model_name))]
    assert logged == [LogRef.parse(rid).blob(model_name)]


def test_the_same_feedback_twice_records_nothing_new_and_different_labels_conflict(call, scored, storage, rid):
    assert call("feedback", method="POST", body={"request_id": rid, "labels": [1, 0, 1]}).status_code == 201
    again = call("feedback", method="POST", body={"request_id": rid, "labels": [1, 0, 1]})
    assert again.status_code == 200 and payload(again)["results"][0]["status"] == "already recorded"
    changed = call("feedback", method="POST", body={"request_id": rid, "labels": [0, 0, 0]})
    assert changed.status_code == 409 and "already labeled" in payload(changed)["error"]
    [blob] = labeled_files(storage, rid)
    assert [r["label"] for r in labeled_rows(storage, f"{names.DATALAKE}/{blob}")] == ["1", "0", "1"]


def test_per_record_feedback_writes_only_those_rows(call, scored, storage, rid):
    response = call("feedback", method="POST", body=[
        {"request_id": rid, "index": 2.0, "label": 0},  # 2.0 is an integer in JSON, as the description says
        {"request_id": rid, "index": 0, "label": 1},
    ])
    assert response.status_code == 201
    result = payload(response)["results"][0]
    assert "-part-" in result["blob"] and result["rows"] == 2
    assert [r["label"] for r in labeled_rows(storage, result["blob"])] == ["1", "0"]


def test_each_request_joins_its_own_rows_in_a_shared_batch(call, production, storage, trained):
    answers = [payload(call("score", method="POST", body=rows(trained[0], 2, start=2 * i))) for i in range(3)]
    scoring.instance().flush()
    assert len({LogRef.parse(a["request_id"]).blob("m") for a in answers}) == 1  # one batch file
    response = call("feedback", method="POST", body={"request_id": answers[1]["request_id"], "labels": [0, 1]})
    table = labeled_rows(storage, payload(response)["results"][0]["blob"])
    assert [[float(r["x1"]), float(r["x2"])] for r in table] == [[r["x1"], r["x2"]] for r in rows(trained[0], 2, start=2)]


def test_unknown_request_ids_are_404(call, scored, rid):
    ref = LogRef.parse(rid)
    in_the_batch = rid[: -len(str(ref.position))] + "7"  # its batch holds one request
    never_written = rid.replace(f"-{ref.seq}-", "-999999-")
    for request_id, words in ((in_the_batch, "no such request"), (never_written, "retry in a few seconds")):
        response = call("feedback", method="POST", body={"request_id": request_id, "labels": [1]})
        assert response.status_code == 404
        assert request_id in payload(response)["error"] and words in payload(response)["error"]


def test_a_client_request_id_is_not_a_join_key(call, scored, storage, rid):
    response = call("feedback", method="POST", body={"request_id": scored["client_request_id"], "labels": [1, 0, 1]})
    assert response.status_code == 400
    assert scored["client_request_id"] in payload(response)["error"] and "client_request_id" in payload(response)["error"]
    assert labeled_files(storage, rid) == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"request_id": RID, "labels": [1, 0]}, 400, ["3 records", "2 labels"]),
        ({"request_id": RID, "index": 3, "label": 1}, 400, ["index 3"]),
        ({"request_id": RID, "index": 1.5, "label": 1}, 400, ["index must be"]),
        ({"request_id": RID, "labels": [1, None, 0]}, 400, ["label 1"]),
        ({"request_id": RID}, 400, ["labels"]),
        ({"labels": [1]}, 400, ["request_id"]),
        ([{"request_id": RID, "labels": [1, 0, 1]}, {"request_id": "nope", "labels": [1]}], 400, ["nope"]),
        ([{"request_id": RID, "labels": [1, 0, 1]}, {"request_id": "r-2001010100-x-000001-0", "labels": [1]}], 404,
         ["r-2001010100-x-000001-0"]),
        ({"request_id": RID, "labels": [1, float("nan"), 0]}, 400, ["label 1", "finite"]),
        ({"request_id": RID, "labels": [1, float("inf"), 0]}, 400, ["label 1", "finite"]),
        ({"request_id": RID, "labels": [1, 7, 0]}, 400, ["label 7", "not a class"]),
        ({"request_id": RID, "labels": [1, "", 0]}, 400, ["label 1 is empty"]),
    ],
    ids=["count-mismatch", "index-out-of-range", "fractional-index", "null-label", "no-labels", "no-request-id", "one-malformed-in-list",
         "one-unknown-in-list", "nan-label", "infinite-label", "unknown-class", "empty-label"],
)
def test_bad_feedback_is_refused_and_writes_nothing(call, scored, storage, rid, body, status, words):
    body = json.loads(json.dumps(body).replace(RID, rid))
    response = call("feedback", method="POST", body=body)
    assert response.status_code == status
    assert all(word in payload(response)["error"] for word in words), payload(response)["error"]
    assert labeled_files(storage, rid) == []


def test_feedback_right_after_scoring_joins_from_memory(call, production, storage, model_name, trained):
    rid = payload(call("score", method="POST", body={"records": rows(trained[0], 2)}))["request_id"]
    assert list(storage.list(names.DATALAKE, log_prefix(model_name))) == []  # still buffered
    response = call("feedback", method="POST", body={"request_id": rid, "labels": ["1", "0"]})
    assert response.status_code == 201
    assert [r["label"] for r in labeled_rows(storage, payload(response)["results"][0]["blob"])] == ["1", "0"]


def test_another_instance_joins_once_the_batch_is_written(call, production, storage, trained):
    rid = payload(call("score", method="POST", body={"records": rows(trained[0], 2)}))["request_id"]
    other = scoring.Scorer.create(context.storage(), context.settings())
    try:
        with pytest.raises(NotFound, match="retry in a few seconds"):
            record(other, {"request_id": rid, "labels": [1, 0]})
        scoring.instance().flush()
        result = record(other, {"request_id": rid, "labels": [1, 0]})
    finally:
        other.close()
    assert result["written"] == 1
    assert [r["label"] for r in labeled_rows(storage, result["results"][0]["blob"])] == ["1", "0"]

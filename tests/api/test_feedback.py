"""POST /api/feedback: labels joined to logged inputs by request id, written as labeled CSV in the lake."""

from __future__ import annotations

import csv
import io
import json

import pytest

from api_helpers import FEATURES, payload, point, register_version, rows
from shared import names, scoring
from shared.feedback import FEEDBACK_PREFIX
from shared.scoring_log import request_blob

RID = "<the scored request id>"


@pytest.fixture
def rid(unique: str) -> str:
    """The request id of the scored request (labeled files are named by it, so unique per test)."""
    return f"req-{unique}"


@pytest.fixture
def scored(api_env, call, storage, model_name, trained, rid):
    """A request of 3 records scored by version 1, with its log written."""
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))
    answer = payload(call("score", method="POST", body={"records": rows(trained[0], 3), "request_id": rid}))
    scoring.instance().flush()
    return answer


def labeled_rows(storage, blob: str) -> list[dict[str, str]]:
    container, name = blob.split("/", 1)
    return list(csv.DictReader(io.StringIO(storage.get_bytes(container, name)[0].decode())))


def test_labels_are_joined_and_written_as_labeled_csv(call, scored, storage, trained, rid):
    response = call("feedback", method="POST", body={"request_id": rid, "labels": [1, 0, 1]})

    assert response.status_code == 201
    result = payload(response)["results"][0]
    assert result["status"] == "recorded" and result["rows"] == 3
    assert result["blob"].startswith(f"{names.DATALAKE}/{FEEDBACK_PREFIX}") and result["blob"].endswith(f"/{rid}.csv")
    table = labeled_rows(storage, result["blob"])
    assert list(table[0]) == [*FEATURES, "label"]
    assert [r["label"] for r in table] == ["1", "0", "1"]
    expected = rows(trained[0], 3)
    assert [[float(r["x1"]), float(r["x2"]), int(r["n"])] for r in table] == [list(e.values()) for e in expected]


def test_the_same_feedback_twice_records_nothing_new_and_different_labels_conflict(call, scored, rid):
    assert call("feedback", method="POST", body={"request_id": rid, "labels": [1, 0, 1]}).status_code == 201
    again = call("feedback", method="POST", body={"request_id": rid, "labels": [1, 0, 1]})
    assert again.status_code == 200 and payload(again)["results"][0]["status"] == "already recorded"
    changed = call("feedback", method="POST", body={"request_id": rid, "labels": [0, 0, 0]})
    assert changed.status_code == 409 and "already labeled" in payload(changed)["error"]


def test_per_record_feedback_writes_only_those_rows(call, scored, storage, rid):
    response = call("feedback", method="POST", body=[
        {"request_id": rid, "index": 2, "label": 0},
        {"request_id": rid, "index": 0, "label": 1},
    ])
    assert response.status_code == 201
    result = payload(response)["results"][0]
    assert "-part-" in result["blob"] and result["rows"] == 2
    assert [r["label"] for r in labeled_rows(storage, result["blob"])] == ["1", "0"]


def test_unknown_request_id_is_404(call, scored):
    response = call("feedback", method="POST", body={"request_id": "never-scored", "labels": [1]})
    assert response.status_code == 404
    assert "never-scored" in payload(response)["error"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"request_id": RID, "labels": [1, 0]}, ["3 records", "2 labels"]),
        ({"request_id": RID, "index": 3, "label": 1}, ["index 3"]),
        ({"request_id": RID, "labels": [1, None, 0]}, ["label 1"]),
        ({"request_id": RID}, ["labels"]),
        ({"labels": [1]}, ["request_id"]),
        ([{"request_id": RID, "labels": [1, 0, 1]}, {"request_id": "nope", "labels": [1]}], ["nope"]),
    ],
    ids=["count-mismatch", "index-out-of-range", "null-label", "no-labels", "no-request-id", "one-unknown-in-list"],
)
def test_bad_feedback_is_refused_and_writes_nothing(call, scored, storage, rid, body, words):
    body = json.loads(json.dumps(body).replace(RID, rid))
    response = call("feedback", method="POST", body=body)
    assert response.status_code in (400, 404)
    assert all(word in payload(response)["error"] for word in words), payload(response)["error"]
    assert not [item for item in storage.list(names.DATALAKE, FEEDBACK_PREFIX) if f"/{rid}" in item.name]


def test_feedback_right_after_scoring_joins_from_memory(call, api_env, storage, model_name, trained, rid):
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))
    call("score", method="POST", body={"records": rows(trained[0], 2), "request_id": rid})
    assert not storage.exists(names.DATALAKE, request_blob(model_name, rid))  # still buffered
    response = call("feedback", method="POST", body={"request_id": rid, "labels": ["1", "0"]})
    assert response.status_code == 201
    assert [r["label"] for r in labeled_rows(storage, payload(response)["results"][0]["blob"])] == ["1", "0"]

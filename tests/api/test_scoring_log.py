"""The scoring log: JSON Lines batches in the lake, per-request blobs, and the flush at process exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api_helpers import FEATURES, payload, point, register_version, rows
from shared import names, scoring
from shared.scoring_log import log_prefix, request_blob

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production(api_env, storage, model_name, trained, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_SCORING_LOG_BATCH", "4")
    scoring.reset()
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))


def log_files(storage, model: str) -> list[str]:
    return sorted(
        item.name for item in storage.list(names.DATALAKE, log_prefix(model)) if item.name.endswith(".jsonl")
    )


def read_lines(storage, name: str) -> list[dict]:
    return [json.loads(line) for line in storage.get_bytes(names.DATALAKE, name)[0].decode().splitlines()]


def test_a_full_batch_is_written_as_json_lines_and_the_rest_on_flush(call, production, storage, model_name, trained):
    answers = [
        payload(call("score", method="POST", body={"records": rows(trained[0], 2, start=2 * i), "request_id": f"r{i}"}))
        for i in range(3)
    ]
    scorer = scoring.instance()
    scorer.log.wait()  # the two first requests (4 rows) filled a batch; the third is still buffered
    files = log_files(storage, model_name)
    assert len(files) == 1
    day, name = files[0][len(log_prefix(model_name)):].split("/")
    lines = read_lines(storage, files[0])
    assert day == lines[0]["ts"][:10]
    assert name == f"{lines[0]['ts'][11:13]}-{scorer.log.instance}-000001.jsonl"
    assert [(line["request_id"], line["index"]) for line in lines] == [("r0", 0), ("r0", 1), ("r1", 0), ("r1", 1)]
    assert [line["prediction"] for line in lines] == answers[0]["predictions"] + answers[1]["predictions"]
    assert all(line["version"] == 1 and line["alias"] == "production" for line in lines)
    assert [[line[f] for f in FEATURES] for line in lines] == [list(r.values()) for r in rows(trained[0], 4)]

    scorer.flush()
    files = log_files(storage, model_name)
    assert len(files) == 2
    assert [line["request_id"] for line in read_lines(storage, files[1])] == ["r2", "r2"]


def test_each_request_gets_a_blob_for_the_feedback_join(call, production, storage, model_name, trained):
    call("score", method="POST", body={"records": rows(trained[0], 3), "request_id": "join-me"})
    scoring.instance().flush()
    document = storage.read_json(names.DATALAKE, request_blob(model_name, "join-me")).value
    assert document["features"] == list(FEATURES)
    assert document["records"] == rows(trained[0], 3)
    assert document["version"] == 1 and len(document["predictions"]) == 3


def test_log_files_are_never_overwritten(storage, model_name, trained, production):
    """Two writers with the same instance token (a restarted process) do not overwrite each other."""
    from shared.scoring_log import ScoredRequest, ScoringLog

    first, second = (ScoringLog(storage, batch=100, instance="same") for _ in range(2))
    for log, request_id in ((first, "a"), (second, "b")):
        log.add(ScoredRequest(request_id, model_name, 1, "production", "2024-05-01T10:00:00.000+00:00",
                              ["x1"], [{"x1": 1.0}], [0]), now=0.0)
        log.close()
    files = log_files(storage, model_name)
    assert [f.rsplit("/", 1)[1] for f in files] == ["10-same-000001.jsonl", "10-same-000002.jsonl"]
    assert [read_lines(storage, f)[0]["request_id"] for f in files] == ["a", "b"]


def test_process_exit_flushes_the_buffer(production, storage, model_name, trained, connection_string):
    script = (
        "from shared import scoring\n"
        f"print(scoring.instance().score({{'records': {rows(trained[0], 2)!r}, 'request_id': 'at-exit'}}).version)\n"
    )
    env = {**os.environ, "AzureWebJobsStorage": connection_string, "DRIFTLINE_MODEL_NAME": model_name,
           "DRIFTLINE_SCORING_LOG_BATCH": "1000", "DRIFTLINE_SCORING_LOG_FLUSH_SECONDS": "3600"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
    files = log_files(storage, model_name)
    assert len(files) == 1
    assert [line["request_id"] for line in read_lines(storage, files[0])] == ["at-exit", "at-exit"]
    assert storage.exists(names.DATALAKE, request_blob(model_name, "at-exit"))

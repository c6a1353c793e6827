"""The scoring log: JSON Lines batches in the lake named by the request ids, and the flush at process exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.platform import names
from shared.serving import scoring
from shared.serving.scoring_log import LogRef, ScoredRequest, ScoringLog, log_prefix
from tests.helpers.api import FEATURES, payload, point, register_version, rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production(api_env, storage, model_name, trained, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_SCORING_LOG_BATCH", "4")
    scoring.reset()
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))


def log_files(storage, model: str) -> list[str]:
    return sorted(item.name for item in storage.list(names.DATALAKE, log_prefix(model)))


def read_lines(storage, name: str) -> list[dict]:
    return [json.loads(line) for line in storage.get_bytes(names.DATALAKE, name)[0].decode().splitlines()]


def scored_at(model: str, ts: str, value: float = 1.0) -> ScoredRequest:
    return ScoredRequest(model, 1, "production", ts, ["x1"], [{"x1": value}], [0])


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
    ids = [answer["request_id"] for answer in answers]
    assert [LogRef.parse(i).blob(model_name) for i in ids[:2]] == [files[0]] * 2  # the ids name the batch
    assert [(line["request_id"], line["client_request_id"], line["index"]) for line in lines] == [
        (ids[0], "r0", 0), (ids[0], "r0", 1), (ids[1], "r1", 0), (ids[1], "r1", 1)]
    assert [line["prediction"] for line in lines] == answers[0]["predictions"] + answers[1]["predictions"]
    assert all(line["version"] == 1 and line["alias"] == "production" and line["during_canary"] is False
               for line in lines)
    assert [[line[f] for f in FEATURES] for line in lines] == [list(r.values()) for r in rows(trained[0], 4)]

    scorer.flush()
    files = log_files(storage, model_name)
    assert len(files) == 2 and files[1] == LogRef.parse(ids[2]).blob(model_name)
    assert [line["request_id"] for line in read_lines(storage, files[1])] == [ids[2], ids[2]]


def test_a_new_hour_starts_a_new_batch(storage, model_name):
    log = ScoringLog(storage, batch=100, instance="hours")
    ids = [log.add(scored_at(model_name, ts), now=0.0) for ts in (
        "2024-05-01T10:59:59.900+00:00", "2024-05-01T11:00:00.100+00:00", "2024-05-01T11:00:00.200+00:00")]
    log.close()
    assert ids == ["r-2024050110-hours-000001-0", "r-2024050111-hours-000002-0", "r-2024050111-hours-000002-1"]
    prefix = log_prefix(model_name)
    assert log_files(storage, model_name) == [f"{prefix}2024-05-01/10-hours-000001.jsonl",
                                              f"{prefix}2024-05-01/11-hours-000002.jsonl"]
    assert [line["request_id"] for line in read_lines(storage, LogRef.parse(ids[2]).blob(model_name))] == ids[1:]


def test_an_id_finds_its_request_in_memory_until_the_batch_is_written(storage, model_name):
    log = ScoringLog(storage, batch=100, instance="mem")
    request = scored_at(model_name, "2024-05-01T10:00:00.000+00:00", 4.5)
    ref = LogRef.parse(log.add(request, now=0.0))
    assert log.unwritten(model_name, ref) is request
    assert log.unwritten("another-model", ref) is None
    log.close()
    assert log.unwritten(model_name, ref) is None
    assert ScoredRequest.from_lines(model_name, read_lines(storage, ref.blob(model_name))) == request


def test_log_files_are_never_overwritten(storage, model_name):
    """Two writers with the same instance token (not expected: 48 random bits) do not overwrite each other."""
    first, second = (ScoringLog(storage, batch=100, instance="same") for _ in range(2))
    for log, value in ((first, 1.0), (second, 2.0)):
        log.add(scored_at(model_name, "2024-05-01T10:00:00.000+00:00", value), now=0.0)
        log.close()
    first_name = f"{log_prefix(model_name)}2024-05-01/10-same-000001.jsonl"
    [moved] = [name for name in log_files(storage, model_name) if name != first_name]
    assert moved.startswith(first_name[: -len(".jsonl")] + "-") and moved.endswith(".jsonl")
    assert (read_lines(storage, first_name)[0]["x1"], read_lines(storage, moved)[0]["x1"]) == (1.0, 2.0)


def test_process_exit_flushes_the_buffer(azure_storage, model_name, trained, connection_string):
    """A separate process, so on Azurite: what it buffered is written when it exits."""
    storage = azure_storage
    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))
    script = (
        "from shared.serving import scoring\n"
        f"print(scoring.instance().score({{'records': {rows(trained[0], 2)!r}}}).request_id)\n"
    )
    env = {**os.environ, "AzureWebJobsStorage": connection_string, "DRIFTLINE_MODEL_NAME": model_name,
           "DRIFTLINE_ALIAS_CHECK_SECONDS": "0", "DRIFTLINE_SCORING_LOG_BATCH": "1000",
           "DRIFTLINE_SCORING_LOG_FLUSH_SECONDS": "3600"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    request_id = result.stdout.strip()
    assert log_files(storage, model_name) == [LogRef.parse(request_id).blob(model_name)]
    assert [line["request_id"] for line in read_lines(storage, log_files(storage, model_name)[0])] == [request_id] * 2


def test_flush_returns_after_a_batch_the_periodic_tick_handed_to_the_writer_meanwhile(storage, model_name,
                                                                                      monkeypatch):
    """The tick runs on its own thread: when it hands the partial batch to the writer while `flush` waits
    for the writes in flight, `flush` still returns only once that batch is written (the load run, tests/reliability/test_load.py,
    reads the log right after a flush)."""
    import threading
    import time

    slow = threading.Event()
    put_bytes = storage.put_bytes

    def slow_put(*args, **kwargs):
        slow.wait(0.3)  # the write takes a while, as on a busy storage account
        return put_bytes(*args, **kwargs)

    monkeypatch.setattr(storage, "put_bytes", slow_put)
    log = ScoringLog(storage, batch=100, instance="tick")
    ref = LogRef.parse(log.add(scored_at(model_name, "2024-05-01T10:00:00.000+00:00"), now=0.0))
    wait = log.wait

    def wait_then_tick() -> None:
        wait()
        log.flush_if_older(0.0, now=time.monotonic())  # the tick lands right after the wait

    monkeypatch.setattr(log, "wait", wait_then_tick)
    log.flush()
    assert log_files(storage, model_name) == [ref.blob(model_name)]
    log.close()

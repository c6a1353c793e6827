"""A bounded load run on POST /api/score over loopback HTTP: the real app on devhost (tests/reliability/
conftest.py, `loopback`), a fixed number of requests from a few concurrent clients, and a time limit at
which the run stops (requests not sent by then are reported as not sent; nothing asserts a speed).

Every request's expected answer is known before it is sent: most are valid (1-5 records, whose
predictions are computed beforehand with the registered estimator itself), one in ten is a bad body
answered 400 with a JSON error. A request that gets no answer, an unexpected status, a 5xx, an empty
body, or a prediction that is not the estimator's (wrong length, class, probabilities, version, request
id) is a case problem on the reliability tally. After the run the scoring log is flushed and read back:
every scored request has exactly its rows there, under its request id, with its predictions (a missing
row counts as lost, a row twice as a duplicate). The run prints one line of figures:

    load: requests=2000 sent=2000 errors=0 error_rate=0.00% p50=4.1ms p99=19.8ms within=120s
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import requests

from shared.platform import names
from shared.serving import scoring
from shared.serving.scoring_log import LOG_ID, log_prefix
from tests.helpers.api import FEATURES
from tests.reliability.conftest import LOAD_LINES

REQUESTS = 2000
CLIENTS = 4
TIME_LIMIT_S = 120.0  # the run stops here; what was not sent by then is reported, not failed on
REQUEST_TIMEOUT_S = 30.0
INVALID_EVERY = 10

# Bad bodies with their known answer: every one is refused 400 with a JSON error naming the problem.
INVALID: list[tuple[str, bytes]] = [
    ("a field missing", json.dumps({"records": [{"x1": 0.1, "x2": 0.2}]}).encode()),
    ("text for a number", json.dumps({"records": [{"x1": "abc", "x2": 0.2, "n": 1}]}).encode()),
    ("a null value", json.dumps({"records": [{"x1": None, "x2": 0.2, "n": 1}]}).encode()),
    ("a fraction for an integer", json.dumps({"records": [{"x1": 0.1, "x2": 0.2, "n": 1.5}]}).encode()),
    ("no records", json.dumps({"records": []}).encode()),
    ("a record that is not an object", json.dumps({"records": [[0.1, 0.2, 1]]}).encode()),
    ("a bad request_id", json.dumps({"records": [{"x1": 0.1, "x2": 0.2, "n": 1}], "request_id": "../x"}).encode()),
    ("not JSON", b"{\"records\": [{\"x1\": 0.1,"),
    ("a bare number", b"42"),
]


@dataclass
class Planned:
    index: int
    body: bytes
    status: int
    label: str
    records: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)
    probabilities: list[list[float]] = field(default_factory=list)


@dataclass
class Outcome:
    planned: Planned
    latency_ms: float
    problem: str | None = None
    kind: str = "unhandled"
    request_id: str | None = None


def plan(estimator, count: int) -> list[Planned]:
    """Every request with its expected answer, predictions computed with the registered estimator."""
    rng = np.random.default_rng(14)
    planned = []
    for index in range(count):
        if index % INVALID_EVERY == INVALID_EVERY - 1:
            label, body = INVALID[(index // INVALID_EVERY) % len(INVALID)]
            planned.append(Planned(index, body, 400, label))
            continue
        size = int(rng.integers(1, 6))
        records = [{"x1": float(rng.normal()), "x2": float(rng.normal()), "n": int(rng.integers(0, 10))}
                   for _ in range(size)]
        frame = pd.DataFrame(records, columns=list(FEATURES))
        payload: Any = {"records": records} if index % 2 else records  # both forms the API takes
        planned.append(Planned(index, json.dumps(payload).encode(), 200, "valid", records,
                               estimator.predict(frame).tolist(), estimator.predict_proba(frame).tolist()))
    return planned


def check_answer(item: Planned, response: requests.Response, model: str, version: int) -> tuple[str | None, str]:
    """The problem with one answer (None when it is the expected one), and its kind on the tally."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.content[:120]!r}", "5xx"
    if not response.content:
        return f"{response.status_code} with an empty body", "5xx"
    if response.status_code != item.status:
        return f"expected {item.status}, got {response.status_code} {response.content[:120]!r}", "unhandled"
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} body is not JSON: {response.content[:120]!r}", "unhandled"
    if item.status != 200:
        ok = isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
        return (None if ok else f"a 400 without an error message: {body!r:.120}"), "unhandled"
    expected = {"model": model, "version": version, "alias": "production", "predictions": item.predictions,
                "classes": [0, 1]}
    wrong = {key: body.get(key) for key, value in expected.items() if body.get(key) != value}
    if wrong:
        return f"answer differs from the estimator's: {wrong!r:.200}", "unhandled"
    probabilities = body.get("probabilities")
    if (not isinstance(probabilities, list) or len(probabilities) != len(item.records)
            or any(len(row) != 2 or not math.isclose(sum(row), 1.0, abs_tol=1e-9) for row in probabilities)
            or any(not math.isclose(a, b, abs_tol=1e-9)
                   for got, want in zip(probabilities, item.probabilities) for a, b in zip(got, want))):
        return f"probabilities differ from the estimator's: {probabilities!r:.200}", "unhandled"
    if not isinstance(body.get("request_id"), str) or not LOG_ID.match(body["request_id"]):
        return f"request_id is not a scoring-log id: {body.get('request_id')!r}", "unhandled"
    if response.headers.get("X-Model-Version") != str(version):
        return f"X-Model-Version {response.headers.get('X-Model-Version')!r}", "unhandled"
    return None, "clean"


def run(loopback, planned: list[Planned]) -> tuple[list[Outcome], float]:
    """Send `planned` from CLIENTS threads, each on its own keep-alive session, until done or the limit."""
    url = f"{loopback.api}/score"
    headers = {**loopback.headers, "Content-Type": "application/json"}
    pending = iter(planned)
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    started = time.monotonic()
    deadline = started + TIME_LIMIT_S

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    item = next(pending, None)
                if item is None:
                    return
                sent = time.perf_counter()
                try:
                    response = session.post(url, data=item.body, headers=headers, timeout=REQUEST_TIMEOUT_S)
                except requests.RequestException as error:
                    outcome = Outcome(item, (time.perf_counter() - sent) * 1000, f"no answer: {error}")
                else:
                    outcome = Outcome(item, (time.perf_counter() - sent) * 1000)
                    outcome.problem, outcome.kind = check_answer(item, response, loopback.model, loopback.version)
                    if outcome.problem is None and item.status == 200:
                        outcome.request_id = response.json()["request_id"]
                with lock:
                    outcomes.append(outcome)

    with ThreadPoolExecutor(CLIENTS, thread_name_prefix="load-client") as pool:
        for future in [pool.submit(client) for _ in range(CLIENTS)]:
            future.result()
    return outcomes, time.monotonic() - started


def logged_rows(loopback) -> dict[str, list[dict[str, Any]]]:
    """The scoring log's rows by request id, after the app's buffered batches are written."""
    scoring.instance().flush()  # the app runs in this process: its scorer holds the partial batch
    rows: dict[str, list[dict[str, Any]]] = {}
    for item in loopback.storage.list(names.DATALAKE, log_prefix(loopback.model)):
        data, _ = loopback.storage.get_bytes(names.DATALAKE, item.name)
        for line in data.decode().splitlines():
            row = json.loads(line)
            rows.setdefault(row["request_id"], []).append(row)
    return rows


def check_logged(outcome: Outcome, rows: list[dict[str, Any]] | None) -> tuple[str | None, str]:
    item = outcome.planned
    if not rows:
        return f"scored as {outcome.request_id} but no row of it is in the scoring log", "lost"
    if sorted(row["index"] for row in rows) != list(range(len(item.records))):
        kind = "duplicates" if len(rows) > len(item.records) else "lost"
        return f"{len(rows)} log rows for {len(item.records)} records", kind
    ordered = sorted(rows, key=lambda row: row["index"])
    if [row["prediction"] for row in ordered] != item.predictions or any(
            {name: row[name] for name in FEATURES} != record for row, record in zip(ordered, item.records)):
        return "its log rows are not the records and predictions it was answered", "lost"
    return None, "clean"


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share)) if values else float("nan")


def test_a_bounded_load_run_on_score_answers_every_request_as_expected_and_logs_every_row(loopback, trained,
                                                                                           tally):
    planned = plan(trained[0].estimator, REQUESTS)
    outcomes, elapsed = run(loopback, planned)
    rows = logged_rows(loopback)

    answered_ids = Counter(o.request_id for o in outcomes if o.request_id is not None)
    for outcome in outcomes:
        problem, kind = outcome.problem, outcome.kind
        if problem is None and outcome.request_id is not None:
            if answered_ids[outcome.request_id] > 1:
                problem, kind = f"request_id {outcome.request_id} answered twice", "duplicates"
            else:
                problem, kind = check_logged(outcome, rows.get(outcome.request_id))
        tally.case(f"load #{outcome.planned.index} ({outcome.planned.label})", problem, kind)
    stray = set(rows) - set(answered_ids)
    for request_id in sorted(stray):  # rows no answer names: written twice, or for a request that failed
        tally.case(f"scoring log {request_id}", "rows for a request id no answer gave", "duplicates")

    errors = sum(1 for o in outcomes if o.problem is not None)
    latencies = [o.latency_ms for o in outcomes]
    LOAD_LINES.append(
        f"load: requests={REQUESTS} sent={len(outcomes)} errors={errors} "
        f"error_rate={100 * errors / max(len(outcomes), 1):.2f}% p50={percentile(latencies, 50):.1f}ms "
        f"p99={percentile(latencies, 99):.1f}ms within={TIME_LIMIT_S:.0f}s (took {elapsed:.1f}s, {CLIENTS} clients)")

    assert outcomes, "no request was sent within the time limit"
    assert sum(1 for o in outcomes if o.planned.status == 400) > 0 and answered_ids
    tally.assert_clean()

"""The scoring log: what /api/score saw and answered, written to the lake in batches.

Two kinds of blobs, both written with create-if-absent (never overwriting):
- `datalake/scoring-log/<model>/<YYYY-MM-DD>/<HH>-<instance>-<seq>.jsonl`: JSON Lines, one line per
  scored record (`request_id`, `index`, `ts`, `version`, `alias`, the feature columns at top level,
  `prediction`). The scheduled drift check reads these. A batch is written when it holds
  `scoring_log_batch` records or is `scoring_log_flush_seconds` old, and at process exit.
- `datalake/scoring-log/<model>/requests/<request_id>.json`: one small document per request (its
  inputs and predictions) so feedback can join labels by request id with one read instead of scanning
  the log. The trade-off: one extra small blob write per request, done off the hot path by the same
  background writer, and feedback can reach a request only once its batch is written (at most a few
  seconds; on the instance that scored it, at once: pending requests are looked up in memory).

Writes happen on one background thread, never in the request: `add` only appends to memory. A failed
write puts its rows back in the buffer for the next flush, so a storage hiccup loses nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared import names

if TYPE_CHECKING:
    from shared.storage import Storage

log = logging.getLogger(__name__)

REQUESTS_FOLDER = "requests"


def log_prefix(model: str) -> str:
    return f"{names.SCORING_LOG_PREFIX}{model}/"


def request_blob(model: str, request_id: str) -> str:
    return f"{log_prefix(model)}{REQUESTS_FOLDER}/{request_id}.json"


def instance_token() -> str:
    """Names this process in log blob names: the App Service instance (when known) plus a random part,
    so two processes (or a restart of one) never pick the same name."""
    host = os.environ.get("WEBSITE_INSTANCE_ID", "")[:8]
    return f"{host}{uuid.uuid4().hex[:8]}"


@dataclass
class ScoredRequest:
    """One answered /api/score call, as the log and the feedback join need it."""

    request_id: str
    model: str
    version: int
    alias: str
    ts: str
    features: list[str]
    records: list[dict[str, Any]]
    predictions: list[Any]
    during_canary: bool = False  # a canary ran when this was served: feedback feeds its counters
    # progress of the background write, so a retry after a failure repeats neither part
    lines_written: bool = field(default=False, compare=False)
    blob_written: bool = field(default=False, compare=False)

    def lines(self) -> list[dict[str, Any]]:
        meta = {"request_id": self.request_id, "ts": self.ts, "version": self.version, "alias": self.alias}
        return [
            {**record, **meta, "index": index, "prediction": prediction}
            for index, (record, prediction) in enumerate(zip(self.records, self.predictions))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "ts": self.ts,
            "features": self.features,
            "records": self.records,
            "predictions": self.predictions,
            "during_canary": self.during_canary,
        }


@dataclass
class _Pending:
    requests: list[ScoredRequest] = field(default_factory=list)
    rows: int = 0
    since: float | None = None


class ScoringLog:
    """Buffers scored requests in memory and writes them from one background thread."""

    def __init__(self, storage: "Storage", *, batch: int, instance: str | None = None):
        self.storage = storage
        self.batch = batch
        self.instance = instance or instance_token()
        self._pending = _Pending()
        self._by_id: dict[tuple[str, str], ScoredRequest] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer at a time: the background thread or a flush
        self._seq = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-log")
        self._in_flight: set[Future] = set()

    def add(self, request: ScoredRequest, now: float) -> None:
        """Buffer one request (cheap); hands a full batch to the background writer."""
        with self._lock:
            pending = self._pending
            pending.requests.append(request)
            pending.rows += len(request.records)
            pending.since = now if pending.since is None else pending.since
            self._by_id[(request.model, request.request_id)] = request
            if pending.rows >= self.batch:
                self._submit_locked()

    def pending_request(self, model: str, request_id: str) -> ScoredRequest | None:
        """A request scored here whose blobs may not be written yet."""
        with self._lock:
            return self._by_id.get((model, request_id))

    def flush_if_older(self, seconds: float, now: float) -> None:
        """Called by the periodic ticker: write a partial batch once it has waited long enough."""
        with self._lock:
            if self._pending.since is not None and now - self._pending.since >= seconds:
                self._submit_locked()

    def flush(self) -> None:
        """Write everything buffered, in the calling thread, and return once it is written.

        Synchronous on purpose: at process exit the executor accepts no new work (concurrent.futures
        shuts down before atexit handlers run), so the exit flush cannot go through it.
        """
        self.wait()
        with self._lock:
            batch, self._pending = self._pending.requests, _Pending()
        if batch:
            self._write(batch)

    def wait(self) -> None:
        """Wait for the batches already handed to the writer (not the partial one still buffering)."""
        with self._lock:
            in_flight = set(self._in_flight)
        wait(in_flight)

    def in_background(self, task) -> None:
        """Run another small write (the canary counters) on the same writer thread, off the hot path."""
        with self._lock:
            self._track(self._writer.submit(task))

    def close(self) -> None:
        self.flush()
        self._writer.shutdown(wait=True)

    def _submit_locked(self) -> None:
        if not self._pending.requests:
            return
        batch, self._pending = self._pending.requests, _Pending()
        self._track(self._writer.submit(self._write, batch))

    def _track(self, future: Future) -> None:
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)

    def _write(self, batch: list[ScoredRequest]) -> None:
        try:
            with self._write_lock:
                for request in batch:
                    if not request.blob_written:
                        self._write_request(request)
                        request.blob_written = True
                for (model, date, hour), requests in _partitions(batch).items():
                    self._write_lines(model, date, hour, [line for r in requests for line in r.lines()])
                    for request in requests:
                        request.lines_written = True
        except Exception:  # storage down or throttled: keep what is not written for the next flush
            unfinished = [r for r in batch if not (r.blob_written and r.lines_written)]
            log.exception("scoring log: writing %d requests failed; kept for the next flush", len(unfinished))
            with self._lock:
                self._pending.requests[:0] = unfinished
                self._pending.rows += sum(len(r.records) for r in unfinished)
                self._pending.since = self._pending.since or 0.0
        with self._lock:
            for request in batch:
                if request.blob_written and request.lines_written:
                    self._by_id.pop((request.model, request.request_id), None)

    def _write_request(self, request: ScoredRequest) -> None:
        from shared.storage import Conflict

        body = json.dumps(request.to_dict(), separators=(",", ":"), default=str).encode()
        try:
            self.storage.put_bytes(
                names.DATALAKE, request_blob(request.model, request.request_id), body,
                if_absent=True, content_type="application/json",
            )
        except Conflict:
            log.warning("scoring log: request id %s was logged before; keeping the first", request.request_id)

    def _write_lines(self, model: str, date: str, hour: str, lines: list[dict[str, Any]]) -> None:
        from shared.storage import Conflict

        body = "".join(json.dumps(line, separators=(",", ":"), default=str) + "\n" for line in lines).encode()
        while True:
            self._seq += 1
            name = f"{log_prefix(model)}{date}/{hour}-{self.instance}-{self._seq:06d}.jsonl"
            try:
                self.storage.put_bytes(
                    names.DATALAKE, name, body, if_absent=True, content_type="application/x-ndjson"
                )
                return
            except Conflict:
                continue  # a name this instance token used before (cannot normally happen): next seq


def _partitions(batch: list[ScoredRequest]) -> dict[tuple[str, str, str], list[ScoredRequest]]:
    """Requests whose lines are not written yet, by model, UTC date and hour (ts is ISO 8601 UTC)."""
    groups: dict[tuple[str, str, str], list[ScoredRequest]] = {}
    for request in batch:
        if not request.lines_written:
            groups.setdefault((request.model, request.ts[:10], request.ts[11:13]), []).append(request)
    return groups

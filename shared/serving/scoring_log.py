"""The scoring log: what /api/score saw and answered, written to the lake in batches.

One kind of blob, written with create-if-absent (never overwriting):
`datalake/scoring-log/<model>/<YYYY-MM-DD>/<HH>-<instance>-<seq>.jsonl`, JSON Lines, one line per scored
record: the feature columns at top level, then `request_id`, `client_request_id` (only when the caller
sent one), `ts`, `version`, `alias`, `during_canary`, `index`, `prediction`. The scheduled drift check
reads these. A batch is written when it holds `scoring_log_batch` records or is
`scoring_log_flush_seconds` old, and at process exit.

The request id locates the batch. Each buffer gets its file name when it starts (model, UTC date and
hour, this process's instance token, the next sequence number); every request added to it gets the id
`r-<YYYYMMDDHH>-<instance>-<seq>-<n>` (`n`: its position in the batch). So the feedback join reads
exactly one file, and nothing is written per request. A request whose UTC hour differs from the
buffer's starts a new buffer, so each file holds one hour's rows, as the drift check's window expects.
Until its batch is written, a request is found in memory on the instance that scored it
(`ScoringLog.unwritten`); on other instances, a few seconds later.

Writes happen on one background thread, never in the request: `add` only appends to memory. A batch
whose write fails is kept, with its name, and written again on the next tick or flush; if an earlier
attempt did land, the second finds the same bytes under the name and counts as done.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.platform import names

if TYPE_CHECKING:
    from shared.platform.storage import Storage

log = logging.getLogger(__name__)

LOG_ID = re.compile(r"^r-(\d{4})(\d{2})(\d{2})(\d{2})-([A-Za-z0-9]{1,64})-(\d{6,12})-(\d{1,9})$")
META_FIELDS = ("request_id", "client_request_id", "ts", "version", "alias", "during_canary", "index", "prediction")


def log_prefix(model: str) -> str:
    return f"{names.SCORING_LOG_PREFIX}{model}/"


def instance_token() -> str:
    """Names this process in log blob names and request ids: the App Service instance (when known) plus
    a 48-bit random part, so two processes (or a restart of one) never pick the same name."""
    host = re.sub(r"[^A-Za-z0-9]", "", os.environ.get("WEBSITE_INSTANCE_ID", ""))[:8]
    return f"{host}{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class LogRef:
    """Where a request id says its rows are: one batch file and a position in that batch."""

    date: str  # YYYY-MM-DD
    hour: str  # HH
    instance: str
    seq: str  # zero-padded, as in the file name
    position: int

    @classmethod
    def parse(cls, request_id: str) -> "LogRef | None":
        match = LOG_ID.match(request_id)
        if match is None:
            return None
        year, month, day, hour, instance, seq, position = match.groups()
        return cls(f"{year}-{month}-{day}", hour, instance, seq, int(position))

    @property
    def request_id(self) -> str:
        return f"r-{self.date.replace('-', '')}{self.hour}-{self.instance}-{self.seq}-{self.position}"

    def blob(self, model: str) -> str:
        return f"{log_prefix(model)}{self.date}/{self.hour}-{self.instance}-{self.seq}.jsonl"


@dataclass
class ScoredRequest:
    """One answered /api/score call, as the log and the feedback join need it. `request_id` is given by
    `ScoringLog.add`."""

    model: str
    version: int
    alias: str
    ts: str
    features: list[str]
    records: list[dict[str, Any]]
    predictions: list[Any]
    client_request_id: str | None = None
    during_canary: bool = False  # a canary ran when this was served: feedback feeds its counters
    request_id: str = ""

    def lines(self) -> list[dict[str, Any]]:
        meta: dict[str, Any] = {"request_id": self.request_id}
        if self.client_request_id is not None:
            meta["client_request_id"] = self.client_request_id
        meta.update(ts=self.ts, version=self.version, alias=self.alias, during_canary=self.during_canary)
        return [
            {**record, **meta, "index": index, "prediction": prediction}
            for index, (record, prediction) in enumerate(zip(self.records, self.predictions))
        ]

    @classmethod
    def from_lines(cls, model: str, lines: list[dict[str, Any]]) -> "ScoredRequest":
        """The request back from its log lines (one request's lines, any order)."""
        lines = sorted(lines, key=lambda line: line["index"])
        first = lines[0]
        features = [key for key in first if key not in META_FIELDS]
        return cls(
            model=model,
            version=int(first["version"]),
            alias=first["alias"],
            ts=first["ts"],
            features=features,
            records=[{f: line[f] for f in features} for line in lines],
            predictions=[line["prediction"] for line in lines],
            client_request_id=first.get("client_request_id"),
            during_canary=bool(first.get("during_canary")),
            request_id=first["request_id"],
        )


@dataclass
class _Batch:
    """One log file to be: its name is fixed when it starts, because request ids point at it."""

    model: str
    date: str  # YYYY-MM-DD
    hour: str  # HH
    seq: int
    since: float
    requests: list[ScoredRequest] = field(default_factory=list)
    rows: int = 0

    def ref(self, instance: str, position: int) -> LogRef:
        return LogRef(self.date, self.hour, instance, f"{self.seq:06d}", position)


class ScoringLog:
    """Buffers scored requests in memory and writes them from one background thread."""

    def __init__(self, storage: "Storage", *, batch: int, instance: str | None = None):
        self.storage = storage
        self.batch = batch
        self.instance = instance or instance_token()
        self._pending: _Batch | None = None
        self._unwritten: dict[int, _Batch] = {}  # by seq: buffering, in flight, or failed
        self._failed: list[_Batch] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-log")
        self._in_flight: set[Future] = set()

    def add(self, request: ScoredRequest, now: float) -> str:
        """Buffer one request (cheap) and return its request id; hands a full batch to the writer."""
        date, hour = request.ts[:10], request.ts[11:13]
        with self._lock:
            pending = self._pending
            if pending is not None and (pending.model, pending.date, pending.hour) != (request.model, date, hour):
                self._submit_locked()
                pending = None
            if pending is None:
                self._seq += 1
                pending = self._pending = _Batch(request.model, date, hour, self._seq, now)
                self._unwritten[pending.seq] = pending
            request.request_id = pending.ref(self.instance, len(pending.requests)).request_id
            pending.requests.append(request)
            pending.rows += len(request.records)
            if pending.rows >= self.batch:
                self._submit_locked()
        return request.request_id

    def unwritten(self, model: str, ref: LogRef) -> ScoredRequest | None:
        """The request `ref` names, when this instance scored it and its batch is not written yet."""
        if ref.instance != self.instance:
            return None
        with self._lock:
            batch = self._unwritten.get(int(ref.seq))
            if batch is None or batch.model != model or ref.position >= len(batch.requests):
                return None
            return batch.requests[ref.position]

    def flush_if_older(self, seconds: float, now: float) -> None:
        """Called by the periodic ticker: write a partial batch once it has waited long enough, and
        retry batches whose write failed."""
        with self._lock:
            if self._pending is not None and now - self._pending.since >= seconds:
                self._submit_locked()
            failed, self._failed = self._failed, []
            for batch in failed:
                self._track(self._writer.submit(self._write, batch))

    def flush(self) -> None:
        """Write everything buffered, in the calling thread, and return once it is written.

        Batches the periodic tick hands to the writer meanwhile are waited for too. Synchronous on
        purpose: at process exit the executor accepts no new work (concurrent.futures
        shuts down before atexit handlers run), so the exit flush cannot go through it.
        """
        self.wait()
        with self._lock:
            batches = self._failed + ([self._pending] if self._pending is not None else [])
            self._failed, self._pending = [], None
            in_flight = set(self._in_flight)  # the tick may have handed the partial batch over since the wait
        for batch in batches:
            self._write(batch)
        wait(in_flight)

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
        batch, self._pending = self._pending, None
        if batch is not None:
            self._track(self._writer.submit(self._write, batch))

    def _track(self, future: Future) -> None:
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)

    def _write(self, batch: _Batch) -> None:
        try:
            self._put(batch)
        except Exception:  # storage down or throttled: keep the batch, with its name, for the next flush
            log.exception("scoring log: writing batch %06d (%d rows) failed; kept for the next flush",
                          batch.seq, batch.rows)
            with self._lock:
                self._failed.append(batch)
            return
        with self._lock:
            self._unwritten.pop(batch.seq, None)

    def _put(self, batch: _Batch) -> None:
        from shared.platform.errors import ConditionFailed

        body = "".join(
            json.dumps(line, separators=(",", ":"), default=str) + "\n" for r in batch.requests for line in r.lines()
        ).encode()
        name = batch.ref(self.instance, 0).blob(batch.model)
        try:
            self.storage.put_bytes(names.DATALAKE, name, body, if_absent=True, content_type="application/x-ndjson")
        except ConditionFailed:
            if self.storage.get_bytes(names.DATALAKE, name)[0] == body:
                return  # an earlier attempt landed although it reported a failure
            # Another process drew this instance token (48 random bits: not expected). Keep its file, and
            # these rows for the drift check under a fresh name; feedback for these ids would find the
            # other file, which is why the token has that many random bits.
            log.error("scoring log: %s exists with other rows; writing batch under a new name", name)
            name = name[: -len(".jsonl")] + f"-{uuid.uuid4().hex[:12]}.jsonl"
            self.storage.put_bytes(names.DATALAKE, name, body, if_absent=True, content_type="application/x-ndjson")

"""Scoring: serve predictions from the model the aliases point at, cached per instance.

Hot path of `Scorer.score`, in order, with what each costs:
1. the aliases document, from memory; at most once every `alias_check_seconds` (DRIFTLINE_ALIAS_CHECK_SECONDS,
   default 2 s) one HEAD request compares the ETag of `models/<name>/aliases.json`, and only a changed
   ETag downloads the document again;
2. the alias for this request: `production`, or the `canary` for its share of request keys
   (`deploy.route`, deterministic by the key: the `X-Request-Key` header, else the caller's
   `request_id`; requests with neither are split at random);
3. the release (estimator, inference code, input schema) from a cache keyed by (model, version,
   snapshot of its inference code): loaded once per release per instance; releases no alias points at
   any more are dropped when the aliases change;
4. input validation against the version's `schema.json`, then the release's `predict` (and, for a
   classifier, `predict_proba`: a regression model's answer has numbers and no probabilities);
5. the scoring log and the canary counters, in memory; a background thread writes them.

Request ids: the answer's `request_id` is issued by the server (`ScoringLog.add`) and names where the rows are logged
(see `shared/serving/scoring_log.py`); `POST /api/feedback` joins labels by it. A `request_id` the caller sends
is its own: kept as `client_request_id` in the log lines and echoed back in the answer.

Input rules (documented for callers): every feature column of the schema must be present in every
record and non-null; numeric columns take JSON numbers or numeric strings (finite); integer columns
take integral numbers; boolean columns take true/false; text columns take strings or numbers (kept as
text). Fields the schema does not name are ignored (and not logged), so callers may send ids or extra
context without breaking the model. A violation is a 400 naming the record index and the field.

Canary counters (requests, errors, summed latency; feedback counts, correct or absolute error, come from
`shared/serving/feedback.py`)
are recorded per alias (`canary`, `production`) while a canary exists, so the canary can be compared with
production. They are summed in memory and added to `canary-stats.json` by `canary.record_canary_outcome`
every `canary_flush_requests` requests (DRIFTLINE_CANARY_FLUSH_REQUESTS, default 50), on the periodic
tick and at exit: one ETag write per flush, none per request.
"""

from __future__ import annotations

import atexit
import logging
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from shared.platform import names
from shared.platform.errors import BadRequest, Unavailable, UserError
from shared.serving.scoring_log import ScoredRequest, ScoringLog

if TYPE_CHECKING:
    from shared.platform.settings import Settings
    from shared.platform.storage import Storage

log = logging.getLogger(__name__)

REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_RECORDS = 10_000
NUMERIC_KINDS = ("number", "integer")


class ModelFailure(UserError):
    """The serving model raised on valid input: a fault of the model, answered 500 with its message
    (and logged with the traceback)."""

    status = 500


# -- the model's input schema ------------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # number | integer | boolean | text


def kind_of(dtype: str) -> str:
    dtype = str(dtype).lower()
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith("float"):
        return "number"
    if dtype.startswith("bool"):
        return "boolean"
    return "text"


def features_of(schema: dict[str, Any]) -> tuple[Feature, ...]:
    """The feature columns of a version's `schema.json`, as `shared.model.training.input_schema` writes it."""
    return tuple(Feature(str(f["name"]), kind_of(f["dtype"])) for f in schema["features"])


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _coerce(feature: Feature, value: Any, index: int) -> Any:
    kind = feature.kind
    if value is None:
        raise BadRequest(f"record {index}: field '{feature.name}' is null; send a value (missing values are not accepted).")
    if kind in NUMERIC_KINDS:
        number = value if type(value) in (int, float) else None
        if number is None and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None or not math.isfinite(number):
            raise BadRequest(f"record {index}: field '{feature.name}' must be a finite number, got {_show(value)}.")
        if kind == "integer":
            if float(number) != int(number):
                raise BadRequest(f"record {index}: field '{feature.name}' must be an integer, got {_show(value)}.")
            return int(number)
        return float(number)
    if kind == "boolean":
        if type(value) is not bool:
            raise BadRequest(f"record {index}: field '{feature.name}' must be true or false, got {_show(value)}.")
        return value
    if isinstance(value, (dict, list)):
        raise BadRequest(f"record {index}: field '{feature.name}' must be text, got {_show(value)}.")
    return value if isinstance(value, str) else str(value)


def validate(features: tuple[Feature, ...], records: list[Any]) -> list[dict[str, Any]]:
    """The records reduced to the schema's features with coerced values; raises BadRequest naming the
    record index and field of the first problem."""
    rows = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadRequest(f"record {index} must be a JSON object of feature values, got {type(record).__name__}.")
        row = {}
        for feature in features:
            if feature.name not in record:
                raise BadRequest(f"record {index}: field '{feature.name}' is missing.")
            row[feature.name] = _coerce(feature, record[feature.name], index)
        rows.append(row)
    return rows


def parse_body(body: Any) -> tuple[list[Any], str | None]:
    """The records and the caller's optional request id of a score request body (an object, or a bare list)."""
    records: Any
    if isinstance(body, list):
        records, request_id = body, None
    elif isinstance(body, dict):
        records, request_id = body.get("records"), body.get("request_id")
        if records is None:
            raise BadRequest("the body needs 'records': a list of objects, one per row to score.")
    else:
        raise BadRequest("the body must be a JSON object with 'records', or a JSON list of records.")
    if not isinstance(records, list) or not records:
        raise BadRequest("'records' must be a non-empty list of objects.")
    if len(records) > MAX_RECORDS:
        raise BadRequest(f"at most {MAX_RECORDS} records per request; got {len(records)}: split the request.")
    if request_id is not None and (not isinstance(request_id, str) or not REQUEST_ID.match(request_id)):
        raise BadRequest(
            "request_id must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return records, request_id


# -- the per-instance model cache ---------------------------------------------------------------


@dataclass
class ServingModel:
    """One release in memory: the version's estimator, scored through its inference code."""

    name: str
    version: int
    predictor: Any  # shared.repo.inference.Predictor: the release's inference code, or the estimator's
    features: tuple[Feature, ...]
    classifier: bool = True  # the schema's task; a regressor answers no probabilities
    columns: Any = None  # a pandas Index of the feature names, built once

    def frame(self, rows: list[dict[str, Any]]):
        """The validated rows as a DataFrame in schema order. All-float schemas (the common case) go
        through one 2-D array, about 10x faster than building column by column."""
        import numpy as np
        import pandas as pd

        names = [f.name for f in self.features]
        if self.columns is None:
            self.columns = pd.Index(names, dtype=object)
        if all(f.kind == "number" for f in self.features):
            values = np.array([[row[n] for n in names] for row in rows], dtype=np.float64).reshape(len(rows), len(names))
            return pd.DataFrame(values, columns=self.columns, copy=False)
        return pd.DataFrame({n: [row[n] for row in rows] for n in names}, columns=self.columns)


@dataclass
class _AliasState:
    document: dict[str, Any]
    etag: str | None
    checked: float


class ModelCache:
    """Estimators by (model, version) and the aliases document by model, for one process.

    `downloads` counts estimator loads and `alias_reads` aliases downloads, so tests can prove that
    serving does not download per request; `etag_checks` counts the HEAD requests.
    """

    def __init__(self, storage: "Storage", *, check_seconds: float, clock=time.monotonic):
        self.storage = storage
        self.check_seconds = check_seconds
        self.clock = clock
        self.downloads = 0
        self.alias_reads = 0
        self.etag_checks = 0
        self._aliases: dict[str, _AliasState] = {}
        self._models: dict[tuple[str, int, str], ServingModel] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, int, str], threading.Lock] = {}

    def aliases(self, model: str) -> dict[str, Any]:
        from shared.model import registry

        state = self._aliases.get(model)
        now = self.clock()
        if state is not None and now - state.checked < self.check_seconds:
            return state.document
        etag = self.storage.etag(names.MODELS, registry.aliases_blob(model))
        self.etag_checks += 1
        if state is not None and etag == state.etag:
            state.checked = now
            return state.document
        document, etag = registry.aliases(self.storage, model)
        self.alias_reads += 1
        self._aliases[model] = _AliasState(document, etag or None, now)
        self._drop_unreferenced(model, document)
        return document

    def model(self, name: str, version: int, code: dict[str, Any] | None = None) -> ServingModel:
        """The release of `version` with `code`'s inference code (None: the code it was trained from),
        loaded once per instance; releases of other snapshots load beside it."""
        key = (name, version, _snapshot_key(code))
        cached = self._models.get(key)
        if cached is not None:
            return cached
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one download per version even when concurrent requests miss together
            cached = self._models.get(key)
            if cached is None:
                cached = self._load(name, version, code)
                self._models[key] = cached
            return cached

    def _load(self, name: str, version: int, code: dict[str, Any] | None) -> ServingModel:
        from shared.model import registry, tasks
        from shared.model.code import predictor_for

        info = registry.version_info(self.storage, name, version)
        predictor = predictor_for(self.storage, name, version, code)
        self.downloads += 1
        return ServingModel(
            name=name,
            version=version,
            predictor=predictor,
            features=features_of(info["schema"]),
            classifier=tasks.task_of(info["schema"]) is tasks.Task.CLASSIFICATION,
        )

    def _drop_unreferenced(self, model: str, document: dict[str, Any]) -> None:
        kept = {(int(entry["version"]), _snapshot_key(entry.get("code")))
                for entry in document.get("aliases", {}).values()}
        for key in [k for k in self._models if k[0] == model and (k[1], k[2]) not in kept]:
            self._models.pop(key, None)


def _snapshot_key(code: dict[str, Any] | None) -> str:
    return "" if not code else str(code.get("snapshot", ""))


# -- canary counters ------------------------------------------------------------------------------


@dataclass
class _Counts:
    requests: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    feedback_correct: int = 0
    feedback_total: int = 0
    feedback_abs_error: float = 0.0
    feedback_abs_error_sq: float = 0.0


class CanaryTally:
    """Canary outcome counters summed in memory per (model, alias), flushed to the registry in one
    ETag write per alias (never one per request)."""

    def __init__(self, storage: "Storage", *, flush_every: int):
        self.storage = storage
        self.flush_every = flush_every
        self.flushes = 0
        self._counts: dict[tuple[str, str], _Counts] = {}
        self._since_flush = 0
        self._lock = threading.Lock()

    def request(self, model: str, alias: str, *, error: bool, latency_ms: float) -> dict | None:
        """Count one request; every `flush_every` requests, returns the counts taken out to write."""
        with self._lock:
            counts = self._counts.setdefault((model, alias), _Counts())
            counts.requests += 1
            counts.errors += int(error)
            counts.latency_ms_sum += latency_ms
            self._since_flush += 1
            return self._take_locked() if self._since_flush >= self.flush_every else None

    def feedback(self, model: str, alias: str, *, correct: int, total: int, abs_error: float = 0.0,
                 abs_error_sq: float = 0.0) -> None:
        """Count labels given for requests `alias` served: how many were right (a classifier), or the
        sums of absolute errors and of their squares (a regressor), over `total` labels."""
        with self._lock:
            counts = self._counts.setdefault((model, alias), _Counts())
            counts.feedback_correct += correct
            counts.feedback_total += total
            counts.feedback_abs_error += abs_error
            counts.feedback_abs_error_sq += abs_error_sq

    def flush(self) -> None:
        with self._lock:
            taken = self._take_locked()
        self.write(taken)

    def write(self, taken: dict[tuple[str, str], _Counts]) -> None:
        """Add counts taken out to the registry's counters; counts that fail go back for the next flush."""
        from shared.model import canary

        for (model, alias), counts in taken.items():
            try:
                canary.record_canary_outcome(self.storage, model, alias, **vars(counts))
                self.flushes += 1
            except Exception:
                log.exception("canary counters for %s %s not recorded; kept for the next flush", model, alias)
                with self._lock:
                    kept = self._counts.setdefault((model, alias), _Counts())
                    for name, value in vars(counts).items():
                        setattr(kept, name, getattr(kept, name) + value)

    def _take_locked(self) -> dict[tuple[str, str], _Counts]:
        taken, self._counts, self._since_flush = self._counts, {}, 0
        return taken


# -- the scorer -----------------------------------------------------------------------------------


@dataclass
class ScoreResult:
    model: str
    version: int
    alias: str
    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None
    request_id: str = ""  # issued by the scoring log once the request is buffered
    client_request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "request_id": self.request_id,
            "predictions": self.predictions,
        }
        if self.client_request_id is not None:
            body["client_request_id"] = self.client_request_id
        if self.probabilities is not None:
            body["probabilities"] = self.probabilities
            body["classes"] = self.classes
        return body


@dataclass
class Scorer:
    """Everything one process needs to score: the model cache, the scoring log, the canary counters,
    and a daemon thread that writes partial log batches and canary counts every few seconds."""

    storage: "Storage"
    model_name: str
    target_column: str
    cache: ModelCache
    log: ScoringLog
    canary: CanaryTally
    flush_seconds: float
    clock: Any = time.monotonic
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def create(cls, storage: "Storage", settings: "Settings") -> "Scorer":
        scorer = cls(
            storage=storage,
            model_name=settings.model_name,
            target_column=settings.target_column,
            cache=ModelCache(storage, check_seconds=settings.alias_check_seconds),
            log=ScoringLog(storage, batch=settings.scoring_log_batch),
            canary=CanaryTally(storage, flush_every=settings.canary_flush_requests),
            flush_seconds=settings.scoring_log_flush_seconds,
        )
        threading.Thread(target=scorer._tick, name="scoring-flush", daemon=True).start()
        return scorer

    def score(self, body: Any, *, request_key: str | None = None) -> ScoreResult:
        started = time.perf_counter()
        records, client_request_id = parse_body(body)
        model = self.model_name
        aliases = self.cache.aliases(model)
        table = aliases.get("aliases", {})
        if table.get("production") is None:
            raise Unavailable(f"model {model} has no production version yet: train and deploy one, then retry.")
        from shared.model import deploy

        alias = deploy.route(model, request_key or client_request_id or uuid.uuid4().hex, aliases)
        if alias is None:
            raise Unavailable(f"model {model} has no production version yet: train and deploy one, then retry.")
        canary = table.get("canary")
        version = int(table[alias]["version"])
        try:
            result, rows = self._predict(model, version, alias, table[alias].get("code"), records)
        except UserError:
            raise
        except Exception as error:
            if canary is not None:
                self._count(model, alias, error=True, started=started)
            if alias != "canary":
                raise ModelFailure(f"model {model} v{version} failed to score: {error}") from error
            log.exception("canary %s v%s (%s) failed; serving production instead", model, version,
                          _snapshot_key(canary.get("code")) or "its training code")
            version, alias, started = int(table["production"]["version"]), "production", time.perf_counter()
            result, rows = self._predict(model, version, alias, table[alias].get("code"), records)
        if canary is not None:
            self._count(model, alias, error=False, started=started)
        result.client_request_id = client_request_id
        result.request_id = self.log.add(
            ScoredRequest(model, version, alias, _utcnow(), list(rows[0]), rows, result.predictions,
                          client_request_id=client_request_id, during_canary=canary is not None),
            self.clock(),
        )
        return result

    def _predict(self, model: str, version: int, alias: str, code: dict[str, Any] | None, records: list[Any]):
        serving = self.cache.model(model, version, code)
        rows = validate(serving.features, records)
        frame = serving.frame(rows)
        predictor = serving.predictor
        result = ScoreResult(model, version, alias, _listed(predictor.predict(frame)))
        if serving.classifier and predictor.predict_proba is not None:
            result.probabilities = _listed(predictor.predict_proba(frame))
            result.classes = getattr(predictor.estimator, "classes_", None)
            result.classes = None if result.classes is None else list(result.classes.tolist())
        return result, rows

    def _count(self, model: str, alias: str, *, error: bool, started: float) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        taken = self.canary.request(model, alias, error=error, latency_ms=latency_ms)
        if taken:
            self.log.in_background(lambda: self.canary.write(taken))

    def flush(self) -> None:
        """Write the buffered log and canary counts now and wait for them (exit, tests)."""
        self.log.flush()
        self.canary.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.log.flush_if_older(self.flush_seconds, self.clock())
                self.canary.flush()
            except Exception:
                log.exception("periodic scoring flush failed")


def _listed(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# -- the process-wide scorer ------------------------------------------------------------------------

_instance: Scorer | None = None
_instance_lock = threading.Lock()


def instance() -> Scorer:
    """The scorer of this process, built on first use from `shared.platform.context`; flushed at exit."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                from shared.platform import context

                _instance = Scorer.create(context.storage(), context.settings())
                atexit.register(_instance.close)
    return _instance


def reset() -> None:
    """Flush and forget the process-wide scorer (tests that change settings)."""
    global _instance
    with _instance_lock:
        scorer, _instance = _instance, None
    if scorer is not None:
        atexit.unregister(scorer.close)
        scorer.close()

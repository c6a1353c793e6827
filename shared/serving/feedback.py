"""Feedback: true labels joined to what was scored, written to the lake as new labeled training data.

Accepted bodies (JSON):
- `{"request_id": "...", "labels": [l0, l1, ...]}`: one label per scored record, in order;
- `{"request_id": "...", "index": i, "label": l}`: one record's label;
- a list of such objects, or `{"feedback": [...]}`.

`request_id` is the id /api/score returned (`r-<YYYYMMDDHH>-<instance>-<seq>-<n>`), not the caller's own
`client_request_id`: it names the one scoring-log batch holding the request's rows (see
`shared/serving/scoring_log.py`). The join reads that batch file, or the memory of this instance when it scored
the request and has not written the batch yet; a batch not written yet on another instance is a 404
saying to retry in a few seconds. The labeled rows (the schema's features, then the target column) go to
`datalake/labeled/feedback/<scored date>/<request_id>.csv`, or `<request_id>-part-<hash>.csv` for a subset
of the records, created only if absent, so the lake's blob trigger sees each file once as new training
data. Giving the same labels again finds the same name and the same content and records nothing new;
different labels for rows already labeled are refused (409) rather than overwriting training data.

Labels are checked before anything is written: finite, non-empty, and one of the classes the version
that served was trained on (for a classifier). Feedback files join the dataset like any labeled upload,
but start a retrain only once DRIFTLINE_FEEDBACK_MIN_ROWS feedback rows are new (see
`shared.events.lake`), and at most DRIFTLINE_FEEDBACK_MAX_SHARE of a dataset's rows are feedback.

When the request was served while a canary ran, feedback counts go to the canary counters of the
alias that served it: correct/total for a classifier, the sum of absolute errors/total (numeric labels)
for a regressor (the task of the version that served, from its schema).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.platform import names
from shared.platform.errors import BadRequest, NotFound, StateConflict
from shared.serving.scoring_log import LogRef, ScoredRequest

if TYPE_CHECKING:
    from shared.serving.scoring import Scorer



@dataclass(frozen=True)
class Labels:
    """The labels given for one request: index -> label."""

    request_id: str
    ref: LogRef  # where the request's rows are logged, from its id
    by_index: dict[int, Any]
    whole: bool  # given as a full `labels` list (its length must match the records)


def parse_body(body: Any) -> list[Labels]:
    items = body.get("feedback") if isinstance(body, dict) and "feedback" in body else body
    items = items if isinstance(items, list) else [items]
    if not items:
        raise BadRequest("the body holds no feedback: send {'request_id', 'labels'} or a list of them.")
    grouped: dict[str, Labels] = {}
    for position, item in enumerate(items):
        where = f"feedback item {position}" if len(items) > 1 else "the body"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object with request_id and labels (or index and label).")
        request_id = item.get("request_id")
        ref = LogRef.parse(request_id) if isinstance(request_id, str) else None
        if ref is None or not isinstance(request_id, str):
            shown = json.dumps(request_id)[:80]
            raise BadRequest(
                f"{where}: request_id {shown} is not an id /api/score issued (r-<YYYYMMDDHH>-<instance>-<seq>-<n>); "
                "send the 'request_id' of the score answer, not your own 'client_request_id'."
            )
        if "labels" in item:
            labels = item["labels"]
            if not isinstance(labels, list) or not labels:
                raise BadRequest(f"{where}: labels must be a non-empty list, one label per scored record.")
            new = Labels(request_id, ref, {i: _label(l, where, i) for i, l in enumerate(labels)}, whole=True)
        elif "label" in item:
            index = item.get("index")
            if type(index) is float and index.is_integer():  # 2.0 is an integer in JSON
                index = int(index)
            if type(index) is not int or index < 0:
                raise BadRequest(f"{where}: index must be the record's position (an integer from 0).")
            new = Labels(request_id, ref, {index: _label(item["label"], where, index)}, whole=False)
        else:
            raise BadRequest(f"{where}: give 'labels' (a list) or 'index' and 'label'.")
        before = grouped.get(request_id)
        if before is not None:
            if before.whole or new.whole or set(before.by_index) & set(new.by_index):
                raise BadRequest(f"{where}: request {request_id} is labeled twice in one call.")
            new = Labels(request_id, ref, {**before.by_index, **new.by_index}, whole=False)
        grouped[request_id] = new
    return list(grouped.values())


def _label(value: Any, where: str, index: int) -> Any:
    if value is None or isinstance(value, (dict, list)):
        raise BadRequest(f"{where}: label {index} must be a number, string or boolean, got {json.dumps(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"{where}: label {index} is {value}; labels must be finite.")
    if isinstance(value, str) and not value.strip():
        raise BadRequest(f"{where}: label {index} is empty.")
    return value


def record(scorer: "Scorer", body: Any) -> dict[str, Any]:
    """Write labeled rows for every request in the body; returns what was written per request.

    All requests are checked (known, label counts) before anything is written, so a bad item in a
    list writes nothing.
    """
    model = scorer.model_name
    plan = [(labels, _scored(scorer, model, labels)) for labels in parse_body(body)]
    for labels, scored in plan:
        count = len(scored.records)
        if labels.whole and len(labels.by_index) != count:
            raise BadRequest(
                f"request {labels.request_id} scored {count} records but {len(labels.by_index)} labels were given."
            )
        outside = [i for i in labels.by_index if i >= count]
        if outside:
            raise BadRequest(f"request {labels.request_id} has records 0..{count - 1}; index {outside[0]} is not one of them.")
        _check_labels(scorer, model, scored.version, labels)
    results = [_write(scorer, model, scorer.target_column, labels, scored) for labels, scored in plan]
    return {"model": model, "results": results, "written": sum(r["status"] == "recorded" for r in results)}


def _check_labels(scorer: "Scorer", model: str, version: int, labels: Labels) -> None:
    """BadRequest unless every label fits the version that served: one of its classes (a classifier),
    a number (a regressor)."""
    from shared.model import registry, tasks

    schema = registry.version_info(scorer.storage, model, version)["schema"] or {}
    if tasks.task_of(schema) is tasks.Task.REGRESSION:
        odd = [label for label in labels.by_index.values()
               if isinstance(label, bool) or not isinstance(label, (int, float))]
        if odd:
            raise BadRequest(f"request {labels.request_id}: label {json.dumps(odd[0])} is not a number, and "
                             f"{model} v{version} is a regression model.")
        return
    classes = schema.get("classes") or []
    unknown = [label for label in labels.by_index.values() if not any(_same(label, known) for known in classes)]
    if classes and unknown:
        raise BadRequest(f"request {labels.request_id}: label {json.dumps(unknown[0])} is not a class of "
                         f"{model} v{version} ({', '.join(map(str, classes[:10]))}).")


def _scored(scorer: "Scorer", model: str, labels: Labels) -> ScoredRequest:
    """The request from memory (scored here, batch not written yet) or from its one batch file."""
    from shared.platform.errors import BlobNotFound

    request_id = labels.request_id
    pending = scorer.log.unwritten(model, labels.ref)
    if pending is not None:
        return pending
    try:
        data = scorer.storage.get_bytes(names.DATALAKE, labels.ref.blob(model))[0]
    except BlobNotFound:
        raise NotFound(
            f"request {request_id} of model {model} is not in the scoring log yet: its batch is written a few "
            "seconds after scoring, so retry in a few seconds (an id never issued stays unknown)."
        ) from None
    lines = [json.loads(line) for line in data.decode("utf-8").splitlines() if f'"request_id":"{request_id}"' in line]
    lines = [line for line in lines if line.get("request_id") == request_id]
    if not lines:
        raise NotFound(f"request id {request_id} is unknown for model {model}: its batch holds no such request.")
    return ScoredRequest.from_lines(model, lines)


def _write(scorer: "Scorer", model: str, target: str, labels: Labels, scored: ScoredRequest) -> dict[str, Any]:
    from shared.platform.errors import ConditionFailed

    indexes = sorted(labels.by_index)
    features = [f for f in scored.features if f != target]
    body = _csv(features, target, [(scored.records[i], labels.by_index[i]) for i in indexes])
    whole = len(indexes) == len(scored.records)
    suffix = "" if whole else "-part-" + hashlib.sha256(json.dumps(indexes).encode()).hexdigest()[:10]
    name = f"{names.FEEDBACK_PREFIX}{scored.ts[:10]}/{labels.request_id}{suffix}.csv"
    result = {"request_id": labels.request_id, "rows": len(indexes), "blob": f"{names.DATALAKE}/{name}"}
    try:
        scorer.storage.put_bytes(names.DATALAKE, name, body, if_absent=True, content_type="text/csv")
    except ConditionFailed:
        existing = scorer.storage.get_bytes(names.DATALAKE, name)[0]
        if existing != body:
            raise StateConflict(
                f"request {labels.request_id} was already labeled differently ({result['blob']}); "
                "labels are training data and are not overwritten."
            ) from None
        return {**result, "status": "already recorded"}
    if scored.during_canary:
        _count_for_canary(scorer, model, scored, [(scored.predictions[i], labels.by_index[i]) for i in indexes])
    return {**result, "status": "recorded"}


def _count_for_canary(scorer: "Scorer", model: str, scored: ScoredRequest, pairs: list[tuple[Any, Any]]) -> None:
    from shared.model import registry, tasks

    schema = registry.version_info(scorer.storage, model, scored.version)["schema"]
    if tasks.task_of(schema) is tasks.Task.REGRESSION:
        errors = [error for error in (_abs_error(p, label) for p, label in pairs) if error is not None]
        scorer.canary.feedback(model, scored.alias, correct=0, total=len(errors), abs_error=sum(errors),
                               abs_error_sq=sum(error * error for error in errors))
        return
    correct = sum(_same(prediction, label) for prediction, label in pairs)
    scorer.canary.feedback(model, scored.alias, correct=correct, total=len(pairs))


def _abs_error(prediction: Any, label: Any) -> float | None:
    """|prediction - label| for a numeric label, else None (not counted)."""
    import math

    try:
        error = abs(float(prediction) - float(label))
    except (TypeError, ValueError):
        return None
    return error if math.isfinite(error) else None


def _csv(features: list[str], target: str, rows: list[tuple[dict[str, Any], Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*features, target])
    for record, label in rows:
        writer.writerow([_cell(record[f]) for f in features] + [_cell(label)])
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def _same(prediction: Any, label: Any) -> bool:
    """Prediction and label compared as the same kind of value (1 == 1.0 == "1")."""
    if isinstance(prediction, (int, float)) and not isinstance(prediction, bool):
        try:
            return float(prediction) == float(label)
        except (TypeError, ValueError):
            return False
    return str(prediction).lower() == str(label).lower()

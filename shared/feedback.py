"""Feedback: true labels joined to what was scored, written to the lake as new labeled training data.

Accepted bodies (JSON):
- `{"request_id": "...", "labels": [l0, l1, ...]}`: one label per scored record, in order;
- `{"request_id": "...", "index": i, "label": l}`: one record's label;
- a list of such objects, or `{"feedback": [...]}`.

The join reads the request's inputs from `datalake/scoring-log/<model>/requests/<request_id>.json`
(see `shared/scoring_log.py`), or from memory when this instance scored it and has not written it yet.
The labeled rows (the schema's features, then the target column) go to
`datalake/labeled/feedback/<scored date>/<request_id>.csv`, or `<request_id>-part-<hash>.csv` for a subset
of the records, created only if absent, so the lake's blob trigger sees each file once as new training
data. Giving the same labels again finds the same name and the same content and records nothing new;
different labels for rows already labeled are refused (409) rather than overwriting training data.

When the request was served while a canary ran, correct/total counts go to the canary counters of the
version that served it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import names
from shared.scoring import REQUEST_ID, BadInput, RequestError
from shared.scoring_log import request_blob

if TYPE_CHECKING:
    from shared.scoring import Scorer

FEEDBACK_PREFIX = f"{names.LABELED_PREFIX}feedback/"


class UnknownRequest(RequestError):
    status = 404


class LabelConflict(RequestError):
    status = 409


@dataclass(frozen=True)
class Labels:
    """The labels given for one request: index -> label."""

    request_id: str
    by_index: dict[int, Any]
    whole: bool  # given as a full `labels` list (its length must match the records)


def parse_body(body: Any) -> list[Labels]:
    items = body.get("feedback") if isinstance(body, dict) and "feedback" in body else body
    items = items if isinstance(items, list) else [items]
    if not items:
        raise BadInput("the body holds no feedback: send {'request_id', 'labels'} or a list of them.")
    grouped: dict[str, Labels] = {}
    for position, item in enumerate(items):
        where = f"feedback item {position}" if len(items) > 1 else "the body"
        if not isinstance(item, dict):
            raise BadInput(f"{where} must be an object with request_id and labels (or index and label).")
        request_id = item.get("request_id")
        if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
            raise BadInput(f"{where}: request_id must be the request id /api/score returned.")
        if "labels" in item:
            labels = item["labels"]
            if not isinstance(labels, list) or not labels:
                raise BadInput(f"{where}: labels must be a non-empty list, one label per scored record.")
            new = Labels(request_id, {i: _label(l, where, i) for i, l in enumerate(labels)}, whole=True)
        elif "label" in item:
            index = item.get("index")
            if type(index) is not int or index < 0:
                raise BadInput(f"{where}: index must be the record's position (an integer from 0).")
            new = Labels(request_id, {index: _label(item["label"], where, index)}, whole=False)
        else:
            raise BadInput(f"{where}: give 'labels' (a list) or 'index' and 'label'.")
        before = grouped.get(request_id)
        if before is not None:
            if before.whole or new.whole or set(before.by_index) & set(new.by_index):
                raise BadInput(f"{where}: request {request_id} is labeled twice in one call.")
            new = Labels(request_id, {**before.by_index, **new.by_index}, whole=False)
        grouped[request_id] = new
    return list(grouped.values())


def _label(value: Any, where: str, index: int) -> Any:
    if value is None or isinstance(value, (dict, list)):
        raise BadInput(f"{where}: label {index} must be a number, string or boolean, got {json.dumps(value)}.")
    return value


def record(scorer: "Scorer", body: Any) -> dict[str, Any]:
    """Write labeled rows for every request in the body; returns what was written per request.

    All requests are checked (known, label counts) before anything is written, so a bad item in a
    list writes nothing.
    """
    model = scorer.model_name
    plan = [(labels, _scored(scorer, model, labels.request_id)) for labels in parse_body(body)]
    for labels, scored in plan:
        count = len(scored["records"])
        if labels.whole and len(labels.by_index) != count:
            raise BadInput(
                f"request {labels.request_id} scored {count} records but {len(labels.by_index)} labels were given."
            )
        outside = [i for i in labels.by_index if i >= count]
        if outside:
            raise BadInput(f"request {labels.request_id} has records 0..{count - 1}; index {outside[0]} is not one of them.")
    results = [_write(scorer, model, scorer.target_column, labels, scored) for labels, scored in plan]
    return {"model": model, "results": results, "written": sum(r["status"] == "recorded" for r in results)}


def _scored(scorer: "Scorer", model: str, request_id: str) -> dict[str, Any]:
    pending = scorer.log.pending_request(model, request_id)
    if pending is not None:
        return pending.to_dict()
    document = scorer.storage.read_json(names.DATALAKE, request_blob(model, request_id))
    if document is None:
        raise UnknownRequest(
            f"request id {request_id} is unknown for model {model}: send the request_id /api/score returned "
            "(a request is known a few seconds after it was scored)."
        )
    return document.value


def _write(scorer: "Scorer", model: str, target: str, labels: Labels, scored: dict[str, Any]) -> dict[str, Any]:
    from shared.storage import Conflict

    indexes = sorted(labels.by_index)
    features = [f for f in scored["features"] if f != target]
    body = _csv(features, target, [(scored["records"][i], labels.by_index[i]) for i in indexes])
    whole = len(indexes) == len(scored["records"])
    suffix = "" if whole else "-part-" + hashlib.sha256(json.dumps(indexes).encode()).hexdigest()[:10]
    name = f"{FEEDBACK_PREFIX}{scored['ts'][:10]}/{labels.request_id}{suffix}.csv"
    result = {"request_id": labels.request_id, "rows": len(indexes), "blob": f"{names.DATALAKE}/{name}"}
    try:
        scorer.storage.put_bytes(names.DATALAKE, name, body, if_absent=True, content_type="text/csv")
    except Conflict:
        existing = scorer.storage.get_bytes(names.DATALAKE, name)[0]
        if existing != body:
            raise LabelConflict(
                f"request {labels.request_id} was already labeled differently ({result['blob']}); "
                "labels are training data and are not overwritten."
            ) from None
        return {**result, "status": "already recorded"}
    if scored.get("during_canary"):
        correct = sum(_same(scored["predictions"][i], labels.by_index[i]) for i in indexes)
        scorer.canary.feedback(model, int(scored["version"]), correct=correct, total=len(indexes))
    return {**result, "status": "recorded"}


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

"""Files landing in the data lake, and what each one starts.

- `datalake/labeled/...`: new training data. It must be readable and hold the target column and the
  production model's feature columns (when there is a production model); then a retrain. Files that
  land within DRIFTLINE_RETRAIN_COALESCE_SECONDS of each other share one retrain: the run id comes
  from the time window, the first file creates the run with its retrain message delayed to the end of
  the window, and later files find the run already there and only note themselves on it.
- `datalake/incoming/...`: new production data, checked for drift against the production model's
  reference profile; the report goes to `reports/<model>/<timestamp>-<source>.{json,html}` and a
  drifted dataset starts a retrain with the report attached.

A file that cannot be read, has malformed rows, has no rows, or lacks required columns is quarantined (`shared.events.quarantine`)
and the original is left untouched. A name a path cannot hold (`names.lake_name_problem`) is refused
before anything is read by it: only a reason record named by its hash is written, and the handler
returns normally, so the trigger does not retry it and other uploads are not held up. Each (name, ETag) is handled once: a receipt
`hooks/uploads/<hash>.json` is written when it was handled, and the runs it starts have ids derived
from it, so a duplicate delivery of the same upload does nothing. A labeled upload's run id is also
claimed (`hooks/uploads/<hash>.run.json`, create-if-absent) before the run is created, so a delivery
after a crash between the run and the receipt, even in a later coalescing window, joins the same run.

Files are streamed from storage (the drift engine's readers spool non-seekable streams to a temporary
file, never to memory).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import IO, Any

from shared.chain import runs
from shared.events import quarantine
from shared.model import registry
from shared.platform import names
from shared.platform.errors import ConditionFailed, DriftlineError
from shared.platform.settings import Settings
from shared.platform.storage import Storage

log = logging.getLogger(__name__)

LABELED = "labeled"
INCOMING = "incoming"


class Rejected(DriftlineError):
    """The file cannot be used (unreadable, no rows, missing columns); the message says why."""


@dataclass(frozen=True)
class LakeOutcome:
    name: str
    action: str  # duplicate | gone | ignored | refused | quarantined | retrain | joined | drift | no-drift | skipped
    detail: str
    run_id: str | None = None
    report: str | None = None


@dataclass(frozen=True)
class DriftCheck:
    drifted: bool
    reason: str
    report: str  # reports/<report>.json and .html
    rows: int


def blob_name(trigger_path: str) -> str:
    """`datalake/labeled/a.csv` (as the blob trigger names it) -> `labeled/a.csv`."""
    prefix = names.DATALAKE + "/"
    return trigger_path[len(prefix):] if trigger_path.startswith(prefix) else trigger_path


def kind_of(name: str) -> str | None:
    if name.startswith(names.LABELED_PREFIX):
        return LABELED
    if name.startswith(names.INCOMING_PREFIX):
        return INCOMING
    return None


def receipt_name(name: str, etag: str) -> str:
    return f"uploads/{runs.run_id_for(name, etag)}.json"


def read_receipt(storage: Storage, name: str, etag: str) -> dict[str, Any] | None:
    """What the lake trigger did with this upload (the LakeOutcome fields), or None if not yet handled."""
    document = storage.read_json(names.HOOKS, receipt_name(name, etag.strip('"')))
    return None if document is None else document.value


def handle_upload(
    storage: Storage, settings: Settings, path: str, etag: str | None = None, now: datetime | None = None
) -> LakeOutcome:
    """Handle one uploaded lake file once per (name, ETag)."""
    now = now or datetime.now(timezone.utc)
    name = blob_name(path)
    kind = kind_of(name)
    if kind is None:
        return LakeOutcome(name, "ignored", "not under labeled/ or incoming/")
    problem = names.lake_name_problem(name)
    if problem is not None:  # touch nothing by this name: only a reason record named by its hash
        record = quarantine.refuse_name(storage, name, problem, etag=etag, now=now)
        log.warning("%r: refused (%s); reason at %s/%s", name[:120], problem, names.DATALAKE, record)
        return LakeOutcome(name, "refused", f"{problem} (reason at {names.DATALAKE}/{record})")
    etag = (etag or storage.etag(names.DATALAKE, name) or "").strip('"')
    if not etag:
        return LakeOutcome(name, "gone", "the blob was deleted before it could be read")
    receipt = receipt_name(name, etag)
    if storage.exists(names.HOOKS, receipt):
        return LakeOutcome(name, "duplicate", f"already handled this upload (ETag {etag})")
    try:
        outcome = _labeled(storage, settings, name, etag, now) if kind == LABELED else \
            _incoming(storage, settings, name, etag, now)
    except Rejected as problem:
        target = quarantine.quarantine(storage, name, str(problem), etag=etag, now=now)
        outcome = LakeOutcome(name, "quarantined", f"{problem} (copy at {names.DATALAKE}/{target})")
    storage.write_json(names.HOOKS, receipt, {"name": name, "etag": etag, "at": now.isoformat(), **asdict(outcome)})
    log.info("%s: %s (%s)", name, outcome.action, outcome.detail)
    return outcome


# -- labeled data -> retrain ---------------------------------------------------------------------


def _labeled(storage: Storage, settings: Settings, name: str, etag: str, now: datetime) -> LakeOutcome:
    rows = validate_labeled(storage, settings, name)
    window = settings.retrain_coalesce_seconds
    if window > 0:
        bucket = math.floor(now.timestamp() / window)
        run_id = runs.run_id_for("labeled", settings.model_name, str(window), str(bucket))
        delay = max(1, math.ceil((bucket + 1) * window - now.timestamp()))
    else:
        run_id, delay = runs.run_id_for("labeled", name, etag), None
    run_id = claim_run(storage, name, etag, run_id)
    run_id, created = runs.start_run(
        storage, plan="data", model=settings.model_name,
        trigger={"kind": "upload", "blob": name, "etag": etag},
        reason=f"new labeled data: {name}", payload={"uploads": [name]},
        run_id=run_id, delay_seconds=delay,
    )
    if created:
        return LakeOutcome(name, "retrain", f"{rows} rows; retrain starts in {delay or 0} s", run_id)
    runs.add_event(storage, run_id, f"labeled upload {name} ({rows} rows) joins this retrain")
    return LakeOutcome(name, "joined", f"{rows} rows; joins the retrain of this window", run_id)


def claim_name(name: str, etag: str) -> str:
    return f"uploads/{runs.run_id_for(name, etag)}.run.json"


def claim_run(storage: Storage, name: str, etag: str, run_id: str) -> str:
    """The run this upload belongs to, fixed before the run is created: the first handling records
    `run_id` (create-if-absent), every later one (a redelivery after a crash, in another coalescing
    window) gets the recorded one. So a crash anywhere between here and the receipt never makes a
    second run for the same upload."""
    try:
        storage.create_json(names.HOOKS, claim_name(name, etag), {"name": name, "etag": etag, "run_id": run_id})
        return run_id
    except ConditionFailed:
        claimed = storage.read_json(names.HOOKS, claim_name(name, etag))
        return run_id if claimed is None else str(claimed.value["run_id"])


def validate_labeled(storage: Storage, settings: Settings, name: str) -> int:
    """Read the whole file (streamed); returns its row count or raises Rejected."""
    from shared.drift import UnreadableData
    from shared.drift.read import open_source

    required = [settings.target_column, *production_features(storage, settings)]
    columns: list[str] = []
    rows = 0
    try:
        with storage.open_stream(names.DATALAKE, name) as stream, open_source(stream, name=name) as source:
            for batch in source.batches():
                columns = columns or list(batch.schema.names)
                rows += batch.num_rows
            malformed = source.state.malformed_rows
    except UnreadableData as error:
        raise Rejected(f"unreadable: {error.reason}") from None
    if malformed:
        raise Rejected(f"breaks the format: {malformed} malformed rows (wrong number of fields)")
    if rows == 0:
        raise Rejected("the file has no rows")
    missing = [column for column in required if column not in columns]
    if missing:
        raise Rejected(f"missing required column(s) {', '.join(missing)}; "
                       f"labeled data needs the target {settings.target_column!r} and the model's features")
    return rows


def production_features(storage: Storage, settings: Settings) -> list[str]:
    """Feature column names of the production model (from its schema.json), or [] if none."""
    import json

    version = registry.resolve(storage, settings.model_name, "production")
    if version is None:
        return []
    schema = json.loads(registry.read_artifact(storage, settings.model_name, version, "schema.json"))
    return [feature["name"] for feature in schema.get("features", [])]


# -- incoming data -> drift check ----------------------------------------------------------------


def _incoming(storage: Storage, settings: Settings, name: str, etag: str, now: datetime) -> LakeOutcome:
    version = registry.resolve(storage, settings.model_name, "production")
    if version is None:
        return LakeOutcome(name, "skipped", "no production model; drift check skipped")
    profile = registry.load_profile(storage, settings.model_name, version)
    with storage.open_stream(names.DATALAKE, name) as stream:
        check = check_drift(storage, settings, profile, stream, source=name, now=now)
    if not check.drifted:
        return LakeOutcome(name, "no-drift", check.reason, report=check.report)
    run_id = start_drift_retrain(storage, settings, check, {"kind": "drift", "blob": name, "etag": etag},
                                 runs.run_id_for("drift", name, etag), f"dataset drift in {name}")
    return LakeOutcome(name, "drift", check.reason, run_id, check.report)


def check_drift(
    storage: Storage, settings: Settings, profile: Any, stream: IO[bytes], *, source: str, now: datetime
) -> DriftCheck:
    """Compare a file-like of rows against the production profile and store the report.

    Raises Rejected when the data cannot be read, has no rows, or lacks the profile's columns.
    """
    from shared.drift import DriftConfig, UnreadableData, compare, render_html

    try:
        result = compare(profile, stream, name=source, config=DriftConfig.from_mapping(settings.drift_config))
    except UnreadableData as error:
        raise Rejected(f"unreadable: {error.reason}") from None
    codes = {finding["code"]: finding for finding in result.findings}
    if "no_rows" in codes:
        raise Rejected("the file has no rows")
    if "missing_columns" in codes:
        raise Rejected(f"breaks the schema: {codes['missing_columns']['message']}")
    if "malformed_rows" in codes:
        raise Rejected(f"breaks the format: {codes['malformed_rows']['count']} malformed rows (wrong number of fields)")
    report = f"{settings.model_name}/{now.strftime('%Y%m%dT%H%M%SZ')}-{_slug(source)}"
    storage.put_bytes(names.REPORTS, report + ".html", render_html(result).encode("utf-8"),
                      content_type="text/html; charset=utf-8")
    storage.put_bytes(names.REPORTS, report + ".json", result.to_json(), content_type="application/json")
    return DriftCheck(result.dataset_drift, result.reason, report, result.rows_current)


def start_drift_retrain(
    storage: Storage, settings: Settings, check: DriftCheck, trigger: dict[str, Any], run_id: str, what: str
) -> str:
    reason = f"{what}: {check.reason}; report {names.REPORTS}/{check.report}.html"
    run_id, _ = runs.start_run(
        storage, plan="data", model=settings.model_name, trigger=trigger, reason=reason,
        payload={"report": f"{names.REPORTS}/{check.report}.json",
                 "report_html": f"{names.REPORTS}/{check.report}.html"},
        run_id=run_id,
    )
    return run_id


def _slug(source: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", source).strip("_")[:120] or "data"

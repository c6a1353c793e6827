"""Files landing in the data lake, and what each one starts.

- `datalake/labeled/...`: new training data. It passes the trainer's own checks
  (`shared.model.labeled`: readable within bounds, target and labels present, values finite, column
  kinds and columns as the production model's contract says) and joins the dataset
  (`shared.model.datasets.accept`; the same content twice is one entry and starts nothing). A retrain
  starts when the dataset holds at least DRIFTLINE_RETRAIN_MIN_NEW_ROWS rows production has not seen,
  feedback rows counting only once there are DRIFTLINE_FEEDBACK_MIN_ROWS of them (a single feedback
  call does not retrain). Files that land within DRIFTLINE_RETRAIN_COALESCE_SECONDS of each other
  share one retrain: the run id comes from the time window, the first file creates the run with its
  retrain message delayed to the end of the window, and later files only note themselves on it (once
each, even when workers handle one upload at the same time).
- `datalake/incoming/...`: new production data, checked for drift against the production model's
  reference profile; the report goes to `reports/<model>/<timestamp>-<source>.{json,html}`. Drift
  starts a retrain with the report attached when there are new labeled rows to learn from; otherwise
  it is recorded as pending (`models/<name>/drift-pending.json`), `drift.detected` is sent ("labels
  needed"), and the next labeled upload that brings enough new rows starts the retrain, citing it.

A file that fails a check is quarantined (`shared.events.quarantine`) with the reason and never joins
a dataset; the original is left untouched. A name a path cannot hold (`names.lake_name_problem`) is
refused before anything is read by it: only a reason record named by its hash is written, and the
handler returns normally, so the trigger does not retry it and other uploads are not held up. Each
(name, ETag) is handled once: a receipt
`hooks/uploads/<hash>.json` is written when it was handled, and the runs it starts have ids derived
from it, so a duplicate delivery of the same upload does nothing. A labeled upload's run id is also
claimed (`hooks/uploads/<hash>.run.json`, create-if-absent) before the run is created, so a delivery
after a crash between the run and the receipt, even in a later coalescing window, joins the same run;
when none of that run's steps has begun, it sends the run's first message again (delayed to the end
of its window), since a crash between the run record and that message would otherwise leave the run
waiting for the sweeper's step timeout (a copy that was not lost does nothing twice).

Files are streamed from storage (the drift engine's readers spool non-seekable streams to a temporary
file). An incoming batch is never whole in memory; a labeled file is, once decoded, as training will
hold it, which is why its decoded size is bounded (DRIFTLINE_LABELED_MAX_BYTES) while it is read.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import IO, Any

from shared.chain import notify, runs
from shared.events import quarantine
from shared.model import datasets, registry
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
    # duplicate | gone | ignored | refused | quarantined | retrain | joined | accepted | same-content |
    # drift | labels-needed | no-drift | skipped
    action: str
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
    log.info("%s: %s (%s)%s", name, outcome.action, outcome.detail, f" run {outcome.run_id}" if outcome.run_id else "")
    return outcome


# -- labeled data -> retrain ---------------------------------------------------------------------


def _labeled(storage: Storage, settings: Settings, name: str, etag: str, now: datetime) -> LakeOutcome:
    file = validate_labeled(storage, settings, name, etag, now)
    same = datasets.accept(storage, settings.model_name, file)
    if same is not None and (same.name, same.etag) != (file.name, file.etag):  # not this upload's own retry
        return LakeOutcome(name, "same-content", f"same content as {same.name}, already in the dataset: "
                                                 "its rows count once; nothing starts")
    fresh = fresh_rows(storage, settings)
    if fresh.counted < settings.retrain_min_new_rows:
        return LakeOutcome(name, "accepted", f"{file.rows} rows joined the dataset; {fresh.describe()}; "
                                             f"a retrain starts at {settings.retrain_min_new_rows} new rows")
    window = settings.retrain_coalesce_seconds
    if window > 0:
        bucket = math.floor(now.timestamp() / window)
        run_id = runs.run_id_for("labeled", settings.model_name, str(window), str(bucket))
        delay = max(1, math.ceil((bucket + 1) * window - now.timestamp()))
    else:
        run_id, delay = runs.run_id_for("labeled", name, etag), None
    run_id, retried = claim_run(storage, name, etag, run_id)
    pending = drift_pending(storage, settings.model_name)
    reason = f"new labeled data: {name}" + (f"; answers the drift of {pending['at']} ({pending['reason']})"
                                              if pending else "")
    payload: dict[str, Any] = {"uploads": [name]}
    if pending:
        payload.update(report=pending["report"], report_html=pending["report_html"])
    run_id, created = runs.start_run(
        storage, plan="data", model=settings.model_name,
        trigger={"kind": "upload", "blob": name, "etag": etag},
        reason=reason, payload=payload, run_id=run_id, delay_seconds=delay,
    )
    if created and pending:
        clear_drift_pending(storage, settings.model_name)  # this run carries its report
    if created:
        return LakeOutcome(name, "retrain", f"{file.rows} rows; {fresh.describe()}; retrain starts in "
                                            f"{delay or 0} s", run_id)
    # A retry of this upload (its claim was there) after a crash between the run record and its first
    # message: nothing else would send that message before the sweeper's step timeout.
    resent = retried and runs.send_first_again(storage, run_id, delay_seconds=delay)
    runs.add_event(storage, run_id, f"labeled upload {name} ({file.rows} rows) joins this retrain", once=True)
    again = "; no step had begun, so the first step's message was sent again" if resent else ""
    if resent:
        runs.add_event(storage, run_id, f"labeled upload {name} handled again{again}")
    return LakeOutcome(name, "joined", f"{file.rows} rows; joins the retrain of this window{again}", run_id)


def claim_name(name: str, etag: str) -> str:
    return f"uploads/{runs.run_id_for(name, etag)}.run.json"


def claim_run(storage: Storage, name: str, etag: str, run_id: str) -> tuple[str, bool]:
    """The run this upload belongs to, fixed before the run is created, and whether an earlier
    handling of it claimed it: the first handling records `run_id` (create-if-absent), every later one
    (a redelivery after a crash, in another coalescing window) gets the recorded one. So a crash
    anywhere between here and the receipt never makes a second run for the same upload."""
    try:
        storage.create_json(names.HOOKS, claim_name(name, etag), {"name": name, "etag": etag, "run_id": run_id})
        return run_id, False
    except ConditionFailed:
        claimed = storage.read_json(names.HOOKS, claim_name(name, etag))
        return (run_id, False) if claimed is None else (str(claimed.value["run_id"]), True)


def validate_labeled(storage: Storage, settings: Settings, name: str, etag: str,
                     now: datetime) -> datasets.DatasetFile:
    """Read and check the whole file as training will; the dataset entry, or Rejected saying why."""
    from shared.model.labeled import BadFile, FileLimits, check_labeled, read_labeled

    limits = FileLimits(max_bytes=settings.labeled_max_bytes, max_columns=settings.labeled_max_columns)
    version_id = storage.version_id(names.DATALAKE, name)  # with blob versioning: read back exactly later
    try:
        with storage.open_stream(names.DATALAKE, name, version_id=version_id) as stream:
            frame, sha256 = read_labeled(stream, name, limits)
        checked = check_labeled(frame, sha256, settings.target_column, production_contract(storage, settings),
                                task=settings.task)
    except BadFile as problem:
        raise Rejected(str(problem)) from None
    return datasets.DatasetFile(name=name, etag=etag, sha256=checked.sha256, rows=checked.rows,
                                accepted=now.isoformat(timespec="milliseconds"), version_id=version_id)


def production_contract(storage: Storage, settings: Settings):
    """The contract a labeled file is held to (shared.model.labeled.Contract), or None when nothing serves."""
    from shared.model.training import production_contract as contract

    return contract(storage, settings.model_name, frozenset(settings.new_columns))


@dataclass(frozen=True)
class FreshRows:
    """Labeled rows in the dataset that the production model was not trained on."""

    uploads: int
    feedback: int
    feedback_min: int

    @property
    def counted(self) -> int:
        """What counts toward a retrain: upload rows, and feedback rows once there are enough."""
        return self.uploads + (self.feedback if self.feedback >= self.feedback_min else 0)

    def describe(self) -> str:
        return (f"{self.uploads} new uploaded rows and {self.feedback} new feedback rows since the "
                f"production model's dataset (feedback counts from {self.feedback_min})")


def fresh_rows(storage: Storage, settings: Settings) -> FreshRows:
    version = registry.resolve(storage, settings.model_name, "production")
    seen = set() if version is None else \
        datasets.seen_by(registry.version_info(storage, settings.model_name, version)["lineage"])
    uploads, feedback = datasets.new_rows(datasets.counts(storage, settings.model_name), seen)
    return FreshRows(uploads, feedback, settings.feedback_min_rows)


def _pending_name(model: str) -> str:
    return f"{model}/drift-pending.json"


def drift_pending(storage: Storage, model: str) -> dict[str, Any] | None:
    """The drift verdict waiting for labels (report, reason, at), or None."""
    document = storage.read_json(names.MODELS, _pending_name(model))
    return None if document is None else document.value


def clear_drift_pending(storage: Storage, model: str) -> None:
    storage.delete(names.MODELS, _pending_name(model))


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
    if run_id is None:
        return LakeOutcome(name, "labels-needed", f"{check.reason}; no new labeled rows to learn from: the "
                                                  "retrain starts when they arrive", report=check.report)
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
) -> str | None:
    """Retrain on drift when there are new labeled rows to learn from; returns the run id. Otherwise
    (None) the drift waits for labels: recorded as pending, `drift.detected` sent, nothing trains (a
    retrain on the same labeled data would only repeat the production model)."""
    reason = f"{what}: {check.reason}; report {names.REPORTS}/{check.report}.html"
    fresh = fresh_rows(storage, settings)
    if fresh.counted < settings.retrain_min_new_rows:
        pending = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "reason": f"{what}: {check.reason}",
                   "report": f"{names.REPORTS}/{check.report}.json",
                   "report_html": f"{names.REPORTS}/{check.report}.html", "trigger": trigger}
        storage.write_json(names.MODELS, _pending_name(settings.model_name), pending)
        notify.enqueue(storage, "drift.detected", model=settings.model_name, key=check.report,
                       data={**pending, "labels_needed": True, "new_rows": fresh.describe()})
        log.info("%s; labels needed: %s", reason, fresh.describe())
        return None
    run_id, _ = runs.start_run(
        storage, plan="data", model=settings.model_name, trigger=trigger, reason=reason,
        payload={"report": f"{names.REPORTS}/{check.report}.json",
                 "report_html": f"{names.REPORTS}/{check.report}.html"},
        run_id=run_id,
    )
    return run_id


def _slug(source: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", source).strip("_")[:120] or "data"

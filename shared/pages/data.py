"""What each page shows, read from storage: dataclasses and plain dicts, no HTML.

- `overview`: per model what serves (version, training and inference commits), the recent runs with
  status and estimated cost, drift over time per feature from `reports/<model>/*.json`, and the
  timers' monthly cost;
- `run_page`: a run's steps in plan order (times, durations, reasons, compute), its cost, the test
  cases of its JUnit reports under `runs/junit/<run_id>/`, and links to its drift report and lineage;
- `model_page`: versions with metrics, aliases and their history, the production lineage, the reports;
- `drift_report_html`: a stored drift report's HTML, by model and report name.

Unknown or malformed ids raise NotFound or BadRequest with a message (the pages answer 404 / 400).
Listings are bounded (`RECENT_RUNS`, `DRIFT_POINTS`), newest first by the storage's last-modified time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.chain import cost, runs
from shared.repo import junit
from shared.platform import names
from shared.platform.errors import BadRequest, BlobNotFound, NotFound
from shared.platform.messages import StepMessage
from shared.platform.names import check_model_name
from shared.platform.settings import Settings
from shared.platform.storage import Storage
from shared.serving import lookups

RECENT_RUNS = 20
RUNS_READ = 200  # run records read at most to find a model's recent runs
DRIFT_POINTS = 30  # drift reports per model on the overview's charts
REPORT_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,120}$")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    model: str
    plan: str
    status: str
    created: str
    updated: str
    reason: str
    trigger: str
    duration_s: float | None
    cost_usd: float
    unmeasured: tuple[str, ...]


@dataclass(frozen=True)
class Serving:
    model: str
    version: int | None  # None: nothing serves yet
    since: str | None = None
    training_commit: str | None = None
    inference_commit: str | None = None
    run_id: str | None = None
    canary: dict[str, Any] | None = None


@dataclass(frozen=True)
class FeaturePoint:
    report: str  # report name under reports/<model>/
    at: str
    effect: float | None
    threshold: float | None
    drifted: bool


@dataclass(frozen=True)
class FeatureSeries:
    feature: str
    effect_name: str
    points: tuple[FeaturePoint, ...]


@dataclass(frozen=True)
class DriftHistory:
    model: str
    reports: tuple[dict[str, Any], ...]  # name, at, dataset_drift, share_drifted, reason; oldest first
    features: tuple[FeatureSeries, ...]


@dataclass(frozen=True)
class Overview:
    models: tuple[Serving, ...]
    runs: tuple[RunSummary, ...]
    drift: tuple[DriftHistory, ...]
    timers: cost.TimersCost
    rates: Any


@dataclass(frozen=True)
class TestReport:
    kind: str  # unit, integration
    step: str
    summary: dict[str, Any]
    cases: tuple[junit.Case, ...] = ()
    problem: str | None = None  # why the cases could not be read


@dataclass(frozen=True)
class RunPage:
    summary: RunSummary
    timeline: dict[str, Any]  # shared.serving.lookups.run_timeline
    cost: cost.RunCost
    tests: tuple[TestReport, ...]
    report: tuple[str, str] | None  # (model, report name) of the drift report that started it
    version: int | None  # the model version the run registered
    gates: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ModelPage:
    overview: dict[str, Any]  # shared.serving.lookups.model_overview
    serving: Serving
    lineage: dict[str, Any] | None  # shared.serving.lookups.serving_lineage, None when nothing serves
    reports: tuple[dict[str, Any], ...]  # newest first


# -- runs ---------------------------------------------------------------------------------------

def run_records(storage: Storage, *, model: str | None = None, limit: int = RECENT_RUNS) -> list[dict[str, Any]]:
    """The most recently changed run records (of one model if given), newest first."""
    return lookups.recent_runs(storage, model=model, limit=limit, read_at_most=RUNS_READ)


def run_summary(run: dict[str, Any], rates: Any) -> RunSummary:
    priced = cost.run_cost(run, rates)
    created, updated = run.get("created") or "", run.get("updated") or ""
    return RunSummary(
        run_id=run["run_id"], model=run.get("model") or "", plan=run.get("plan") or "",
        status=str(run.get("status") or ""), created=created, updated=updated, reason=run.get("reason") or "",
        trigger=str((run.get("trigger") or {}).get("kind") or ""), duration_s=_seconds(created, updated),
        cost_usd=priced.total_usd, unmeasured=priced.unmeasured,
    )


def run_page(storage: Storage, settings: Settings, run_id: str) -> RunPage:
    runs.check_run_id(run_id)
    run = runs.get_run(storage, run_id)
    if run is None:
        raise NotFound(f"run {run_id} is unknown: check the id (runs are kept for the retention period).")
    timeline = lookups.timeline_of(run)
    tests = []
    for step in timeline["steps"]:
        outputs = step.get("outputs") or {}
        for kind, report in _test_reports(outputs):
            tests.append(_test_report(storage, step["step"], kind, report))
    gates = next((tuple(s["outputs"].get("gates") or ()) for s in timeline["steps"]
                  if s["step"] == "test" and isinstance(s.get("outputs"), dict)), ())
    registered = (run.get("steps", {}).get("register", {}).get("outputs") or {}).get("version")
    return RunPage(summary=run_summary(run, settings.cost), timeline=timeline, cost=cost.run_cost(run, settings.cost),
                   tests=tuple(tests), report=_started_by_report(run), version=registered, gates=gates)


def _test_reports(outputs: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(kind, report outputs) of the JUnit-backed test runs a step recorded."""
    for kind, key in (("unit", "unit_tests"), ("integration", "integration_tests")):
        report = outputs.get(key)
        if isinstance(report, dict):
            yield kind, report


def _test_report(storage: Storage, step: str, kind: str, report: dict[str, Any]) -> TestReport:
    summary = {key: report.get(key) for key in ("passed", "failed", "errors", "skipped", "duration_s", "summary")}
    blob = report.get("junit")
    if not blob:
        return TestReport(kind, step, summary, problem="no JUnit report was kept")
    container, _, name = str(blob).partition("/")
    try:
        data, _ = storage.get_bytes(container, name)
        return TestReport(kind, step, summary, tuple(junit.cases(data)))
    except BlobNotFound:
        return TestReport(kind, step, summary, problem=f"{blob} is gone (retention)")
    except junit.JUnitError as error:
        return TestReport(kind, step, summary, problem=str(error))


def _started_by_report(run: dict[str, Any]) -> tuple[str, str] | None:
    try:
        payload = StepMessage.from_json(run["first_message"]).payload
    except Exception:  # an old or odd record: the page shows no report link
        return None
    html = payload.get("report_html") or ""
    parts = str(html).split("/")
    if len(parts) == 3 and parts[0] == names.REPORTS and parts[2].endswith(".html"):
        return parts[1], parts[2][: -len(".html")]
    return None


# -- models -------------------------------------------------------------------------------------

def model_names(storage: Storage, settings: Settings) -> list[str]:
    """Every model with a registry (aliases or versions document), the configured one first."""
    found = {item.name.split("/")[0] for item in storage.list(names.MODELS)
             if item.name.endswith(("/aliases.json", "/versions.json")) and item.name.count("/") == 1}
    return [settings.model_name] + sorted(found - {settings.model_name})


def serving(storage: Storage, model: str) -> Serving:
    try:
        lineage = lookups.serving_lineage(storage, model)
    except NotFound:
        return Serving(model, None)
    release = lineage["release"]
    return Serving(model, lineage["version"], lineage.get("since"), release.get("training_commit"),
                   release.get("inference_commit"), lineage.get("run_id"), lineage.get("canary"))


def model_page(storage: Storage, model: str) -> ModelPage:
    check_model_name(model)
    overview = lookups.model_overview(storage, model)
    try:
        lineage: dict[str, Any] | None = lookups.serving_lineage(storage, model)
    except NotFound:
        lineage = None
    return ModelPage(overview, serving(storage, model), lineage, tuple(reversed(report_list(storage, model))))


# -- drift --------------------------------------------------------------------------------------

def report_list(storage: Storage, model: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The drift reports of a model, oldest first: name, when it was written."""
    prefix = f"{check_model_name(model)}/"
    found = [(item.name[len(prefix):-len(".json")], item.last_modified) for item in storage.list(names.REPORTS, prefix)
             if item.name.endswith(".json") and REPORT_NAME.match(item.name[len(prefix):-len(".json")])]
    # by the second in the name, then by when written (two reports can share a second)
    reports = [name for name, _ in sorted(found, key=lambda pair: (pair[0].split("-", 1)[0], pair[1]))]
    chosen = reports if limit is None else reports[-limit:]
    return [{"name": name, "at": _report_time(name)} for name in chosen]


def drift_history(storage: Storage, model: str, limit: int = DRIFT_POINTS) -> DriftHistory:
    """Each feature's effect size against its threshold over the model's last `limit` reports."""
    reports: list[dict[str, Any]] = []
    series: dict[str, tuple[str, list[FeaturePoint]]] = {}
    for entry in report_list(storage, model, limit):
        document = storage.read_json(names.REPORTS, f"{model}/{entry['name']}.json")
        if document is None or not isinstance(document.value, dict):
            continue
        report = document.value
        reports.append({**entry, "dataset_drift": bool(report.get("dataset_drift")),
                        "share_drifted": report.get("share_drifted"), "reason": report.get("reason") or ""})
        for column in report.get("columns") or []:
            effect = column.get("effect") or {}
            name = str(column.get("name"))
            effect_name, points = series.setdefault(name, (str(effect.get("name") or ""), []))
            points.append(FeaturePoint(entry["name"], entry["at"], _number(effect.get("value")),
                                       _number(effect.get("threshold")), bool(column.get("drifted"))))
    features = tuple(FeatureSeries(name, effect_name, tuple(points)) for name, (effect_name, points) in series.items())
    return DriftHistory(model, tuple(reports), features)


def drift_report_html(storage: Storage, model: str, report: str) -> bytes:
    check_model_name(model)
    if not REPORT_NAME.match(report):
        raise BadRequest(f"report name {report[:60]!r} is not valid: report names look like "
                         f"20260101T000000Z-<source>, as the model page links them.")
    try:
        return storage.get_bytes(names.REPORTS, f"{model}/{report}.html")[0]
    except BlobNotFound:
        raise NotFound(f"drift report {report} of model {model} is unknown (reports are kept for the "
                       f"retention period).") from None


# -- the overview -------------------------------------------------------------------------------

def overview(storage: Storage, settings: Settings) -> Overview:
    models = model_names(storage, settings)
    return Overview(
        models=tuple(serving(storage, model) for model in models),
        runs=tuple(run_summary(run, settings.cost) for run in run_records(storage)),
        drift=tuple(drift_history(storage, model) for model in models),
        timers=cost.timers_monthly(settings.timer_schedules, settings.cost),
        rates=settings.cost,
    )


def _seconds(start: str, end: str) -> float | None:
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:
        return None


def _report_time(name: str) -> str:
    stamp = name.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


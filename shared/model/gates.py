"""The test step: gates a version must pass before it may be promoted.

In order (a gate that makes the later ones meaningless stops the list):
1. `artifact_loads`  the skops file loads with the trusted types only;
2. `scoring_contract`  the held-out rows have the feature columns and dtypes recorded at training,
   and predict on a sample returns one value per row: for a classifier of the target's dtype kind,
   from the known classes (predict_proba, when present, one row of probabilities per input row); for
   a regressor finite numbers (the task is the schema's, `shared.model.tasks`);
3. `quality`  on this version's held-out rows, the metric for its task (DRIFTLINE_QUALITY_METRIC; auto:
   accuracy or rmse) is no worse than the current production model's ON THE SAME ROWS, within
   DRIFTLINE_QUALITY_TOLERANCE, in the metric's direction (lower is better for rmse and mae, whose
   tolerance is relative);
4. `latency`  p95 of single-row predict within DRIFTLINE_LATENCY_BUDGET_MS, after a warm-up, as the median
   of the p95s of rounds of DRIFTLINE_LATENCY_REPETITIONS calls (robust to a burst of load); with a
   production model, its calls are interleaved with the candidate's on the same rows, and a candidate
   over the budget still passes when production misses it too in the same rounds and the candidate is
   no slower than it (within LATENCY_RELATIVE_SLACK): the machine is slow then, not the model;
5. `integration`  when DRIFTLINE_INTEGRATION_TESTS names `package.module:function`, it is called with
   (estimator, holdout frame); raising or returning False fails;
6. `integration_tests`  for a version trained from the repository (or an app-code run's commit), once
   the gates above passed: the repository's `[tests] integration` suite from the snapshot, in the
   sandbox, with the `model`, `holdout` and `predict` fixtures (`shared.repo.pytest_plugin`).
Gates 2-4 score through the version's inference code: the `[inference]` module of the snapshot it was
trained from (an app-code run: of its own commit), else the estimator's own predict.

Each gate's outcome is passed, failed, or not_evaluated (it could not judge: the quality gate when the
production model cannot be scored on the rows: its inference code raises, the rows lack features it
needs, it is of another task, or the metric cannot be computed for it). Not evaluated is never a
pass. What it does to the run is the explicit rule DRIFTLINE_UNSCORABLE_PRODUCTION:
- `fail` (default): the run is rejected with the reason, as for a failed gate. Without a comparison
  nothing shows the new version is not worse than what serves; a rejected run changes nothing and
  says why, where a wrong deploy reaches every caller. Roll back, or set the rule for one deploy;
- `pass-with-warning`: the run goes on (for an intended schema or task change), and the warning is
  in the gate's detail, the run's `warnings` output, the test step's detail and the deploy
  notification's data.
Every result (name, outcome, value, threshold, detail) is recorded on the run; a failed gate (or a
not evaluated one under `fail`) raises StopRun(REJECTED) with the reasons, which the step adapter
records and notifies.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from shared.chain import runs
from shared.chain.states import RunStatus, StopRun
from shared.model import registry, tasks
from shared.model.metrics import quality_of
from shared.repo.inference import Predictor
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage

CONTRACT_SAMPLE_ROWS = 20
_DTYPE_KINDS = {"i": "iub", "u": "iub", "b": "iub", "f": "fiu", "O": "OUSb", "U": "OUS", "S": "OUS"}


class GateOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_EVALUATED = "not_evaluated"  # the gate could not judge: never counted as a pass


@dataclass(frozen=True)
class GateResult:
    name: str
    outcome: GateOutcome
    value: Any = None
    threshold: Any = None
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome is GateOutcome.PASSED

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _judged(name: str, passed: bool, **fields: Any) -> GateResult:
    return GateResult(name, GateOutcome.PASSED if passed else GateOutcome.FAILED, **fields)


def tested_version(storage: Storage, message: StepMessage) -> int:
    """The version under test: the registered one, or production for the `app` plan."""
    run = runs.get_run(storage, message.run_id)
    if run is not None and run["plan"] == "app":
        version = registry.resolve(storage, message.model, "production")
        if version is None:
            raise StopRun(RunStatus.SKIPPED, f"model {message.model} has no production version to test the new code with.")
        return version
    version = message.payload.get("version")
    if not isinstance(version, int):
        raise StopRun(RunStatus.FAILED, "the test step needs the registered version in the message payload.")
    return version


def run_gates(storage: Storage, settings: Settings, message: StepMessage) -> dict[str, Any]:
    """The test step: returns {"version", "gates", ["integration_tests"]}; raises StopRun(REJECTED) when a
    gate fails. The repository's integration tests run once the built-in gates passed."""
    from shared.model.code import integration_tests, report_outputs

    version = tested_version(storage, message)
    run = runs.get_run(storage, message.run_id)
    app_code = message.payload.get("code") if run is not None and run["plan"] == "app" else None
    code = app_code if isinstance(app_code, dict) else None
    results = evaluate(storage, settings, message.model, version, code)
    # What the gates compared with; deploy refuses when production moved since (a late approval).
    compared_with = registry.resolve(storage, message.model, "production")
    outputs: dict[str, Any] = {"version": version, "compared_with": compared_with,
                               "gates": [result.to_dict() for result in results]}
    if not blocking(settings, results):
        report = integration_tests(storage, message.run_id, message.model, version, code)
        if report is not None:
            outputs["integration_tests"] = report_outputs(storage, message.run_id, report)
            results.append(_judged("integration_tests", report.ok, detail=report.summary))
            outputs["gates"] = [result.to_dict() for result in results]
    warnings = [f"{result.name} not evaluated: {result.detail}" for result in results
                if result.outcome is GateOutcome.NOT_EVALUATED]
    if warnings:
        outputs["warnings"] = warnings
    stopping = blocking(settings, results)
    if stopping:
        reasons = "; ".join(f"{result.name} {result.outcome.replace('_', ' ')}: {result.detail}" for result in stopping)
        raise StopRun(RunStatus.REJECTED, f"version {version} did not pass {len(stopping)} gate(s): {reasons}", outputs)
    return outputs


def blocking(settings: Settings, results: list[GateResult]) -> list[GateResult]:
    """The results that stop the run: failed ones, and not evaluated ones under the `fail` rule."""
    allowed = (GateOutcome.PASSED,) if settings.unscorable_production == "fail" else (
        GateOutcome.PASSED, GateOutcome.NOT_EVALUATED)
    return [result for result in results if result.outcome not in allowed]


def evaluate(storage: Storage, settings: Settings, model: str, version: int,
             code: dict[str, Any] | None = None) -> list[GateResult]:
    """The gates of `version`, scoring through its inference code (or `code`'s, for an app-code run)."""
    from shared.model.code import predictor_for

    info = registry.version_info(storage, model, version)
    schema = info["schema"]
    try:
        predictor = predictor_for(storage, model, version, code)
    except Exception as error:
        return [GateResult("artifact_loads", GateOutcome.FAILED, detail=f"{type(error).__name__}: {error}")]
    results = [GateResult("artifact_loads", GateOutcome.PASSED,
                          detail=f"loaded with trusted types; scores through {predictor.source}")]
    holdout = registry.load_holdout(storage, model, version)
    contract = scoring_contract(predictor, holdout, schema)
    results.append(contract)
    if not contract.passed:
        return results
    features = holdout[[f["name"] for f in schema["features"]]]
    labels = holdout[schema["target"]]
    task = tasks.task_of(schema)
    production = _production(storage, model, version, features)  # loaded once, for both comparisons
    results.append(quality_gate(settings, predictor, features, labels, task, production))
    results.append(latency_gate(settings, predictor, features,
                                reference=None if production is None else production.predictor))
    if settings.integration_tests:
        results.append(integration_gate(settings.integration_tests, predictor.estimator, holdout))
    return results


@dataclass(frozen=True)
class Production:
    """The production version the gates compare with, and its predictor when it can score the held-out
    rows (else `problem` says why not); `tested` when it is the version under test (an app-code run
    tests production's version with new inference code), which is compared with nothing."""

    version: int
    schema: dict[str, Any]
    predictor: Predictor | None
    problem: str = ""
    tested: bool = False


def _production(storage: Storage, model: str, version: int, features) -> Production | None:
    """What serves, loaded once for the quality gate and the latency gate; None when nothing serves."""
    from shared.model.code import predictor_for

    production = registry.resolve(storage, model, "production")
    if production is None:
        return None
    if production == version:
        return Production(production, {}, None, tested=True)
    schema = registry.version_info(storage, model, production)["schema"]
    missing = [f["name"] for f in schema["features"] if f["name"] not in features.columns]
    if missing:
        return Production(production, schema, None, f"the held-out rows lack its feature(s) {', '.join(missing[:5])}")
    try:
        return Production(production, schema, predictor_for(storage, model, production))
    except Exception as error:
        return Production(production, schema, None, f"its inference raised {type(error).__name__}: {error}")


def predictor_quality(predictor: Predictor, features, labels, task: tasks.Task) -> dict[str, Any]:
    classifier = task is tasks.Task.CLASSIFICATION
    probabilities = predictor.predict_proba(features) if classifier and predictor.predict_proba is not None else None
    return quality_of(labels, predictor.predict(features), probabilities, task=task)


def scoring_contract(predictor: Predictor, holdout, schema: dict[str, Any]) -> GateResult:
    import numpy as np

    expected = {f["name"]: f["dtype"] for f in schema["features"]}
    actual = {column: str(holdout[column].dtype) for column in holdout.columns if column != schema["target"]}
    if actual != expected:
        return GateResult("scoring_contract", GateOutcome.FAILED, value=actual, threshold=expected,
                          detail="held-out columns do not match the training input schema")
    sample = holdout[list(expected)].head(CONTRACT_SAMPLE_ROWS)
    try:
        predicted = np.asarray(predictor.predict(sample))
    except Exception as error:
        return GateResult("scoring_contract", GateOutcome.FAILED, detail=f"predict raised {type(error).__name__}: {error}")
    regression = tasks.task_of(schema) is tasks.Task.REGRESSION
    if predicted.shape != (len(sample),):
        problems = [f"predict returned shape {predicted.shape}, expected ({len(sample)},)"]
    elif regression:
        problems = _regression_problems(predicted)
    else:
        problems = _classification_problems(predictor, sample, predicted, schema)
    if problems:
        return GateResult("scoring_contract", GateOutcome.FAILED, value=str(predicted.dtype), detail="; ".join(problems))
    output = "finite numbers" if regression else "known classes"
    return GateResult("scoring_contract", GateOutcome.PASSED, value=str(predicted.dtype),
                      detail=f"{len(expected)} features, {len(sample)} sample rows, {output}")


def _regression_problems(predicted) -> list[str]:
    import numpy as np

    if predicted.dtype.kind not in "iuf":
        return [f"predict returned dtype {predicted.dtype}, expected numbers (a regression model)"]
    bad = int(np.sum(~np.isfinite(predicted.astype(float))))
    return [f"predict returned {bad} value(s) that are not finite numbers"] if bad else []


def _classification_problems(predictor: Predictor, sample, predicted, schema: dict[str, Any]) -> list[str]:
    import numpy as np

    target_kind = _kind(schema["target_dtype"])
    if predicted.dtype.kind not in _DTYPE_KINDS.get(target_kind, target_kind):
        return [f"predict returned dtype {predicted.dtype}, expected one like {schema['target_dtype']}"]
    unknown = {str(value) for value in predicted} - {str(value) for value in schema["classes"]}
    if unknown:
        return [f"predict returned unknown classes {sorted(unknown)[:5]}"]
    if predictor.predict_proba is not None:
        try:
            probabilities = np.asarray(predictor.predict_proba(sample))
        except Exception as error:
            return [f"predict_proba raised {type(error).__name__}: {error}"]
        if probabilities.ndim != 2 or probabilities.shape[0] != len(sample):
            return [f"predict_proba returned shape {probabilities.shape}"]
    return []


def _kind(dtype: str) -> str:
    import numpy as np

    return np.dtype(dtype).kind if dtype != "object" else "O"


def quality_gate(settings: Settings, predictor: Predictor, features, labels, task: tasks.Task,
                 production: Production | None) -> GateResult:
    """This version against production on the same held-out rows, in the metric's direction."""
    try:
        metric = tasks.metric_for(settings.quality_metric, task)
    except ValueError as error:
        return GateResult("quality", GateOutcome.FAILED, detail=str(error))
    name = metric.name
    try:
        value = predictor_quality(predictor, features, labels, task).get(name)
    except Exception as error:
        return GateResult("quality", GateOutcome.FAILED, detail=f"scoring the held-out rows raised {type(error).__name__}: {error}")
    if value is None:
        return GateResult("quality", GateOutcome.FAILED, detail=f"{name} cannot be computed for this model")
    if production is None or production.tested:
        why = "no production model to compare with" if production is None else "this version is production"
        return GateResult("quality", GateOutcome.PASSED, value=value, detail=f"{name} {value:.4f}; {why}")
    baseline, problem = _production_quality(production, features, labels, task, name)
    if baseline is None:
        rule = settings.unscorable_production
        effect = ("the run is rejected" if rule == "fail" else "the run goes on with this warning")
        return GateResult("quality", GateOutcome.NOT_EVALUATED, value=value,
                          detail=f"{name} {value:.4f}, but production v{production.version} cannot be scored on these rows "
                                 f"({problem}); DRIFTLINE_UNSCORABLE_PRODUCTION={rule}: {effect}")
    threshold = metric.threshold(baseline, settings.quality_tolerance)
    kind = "relative" if metric.relative_tolerance else "absolute"
    return _judged(
        "quality", metric.acceptable(value, threshold), value=value, threshold=threshold,
        detail=f"{name} {value:.4f} vs production v{production.version} {baseline:.4f} on the same held-out rows "
               f"({metric.direction}; {kind} tolerance {settings.quality_tolerance})",
    )


def _production_quality(production: Production, features, labels, task, name) -> tuple[float | None, str]:
    """Production's metric on the rows, or (None, why it cannot be scored)."""
    if tasks.task_of(production.schema) is not task:
        return None, f"it is a {tasks.task_of(production.schema)} model and this version a {task} one"
    if production.predictor is None:
        return None, production.problem
    try:
        baseline = predictor_quality(production.predictor, features, labels, task).get(name)
    except Exception as error:
        return None, f"its inference raised {type(error).__name__}: {error}"
    return (baseline, "") if baseline is not None else (None, f"{name} cannot be computed for it")


LATENCY_WARMUP = 5  # calls not measured: first-call costs (caches, lazy imports) are not the model's speed
LATENCY_ROUNDS = 5  # the p95 is taken per round and the median round judged: one busy burst moves one round
LATENCY_RELATIVE_SLACK = 0.10  # how much slower than production a candidate may be when both miss the budget


def latency_gate(settings: Settings, predictor: Predictor, features,
                 clock: Callable[[], float] = time.perf_counter, reference: Predictor | None = None) -> GateResult:
    """p95 of single-row predict, robust to a busy machine: after LATENCY_WARMUP unmeasured calls, the
    DRIFTLINE_LATENCY_REPETITIONS measured calls are split into LATENCY_ROUNDS rounds; the gate judges the
    median of the rounds' p95s. A model slow on every call still fails; a burst of load on the machine
    during one or two rounds does not fail a sound model. With `reference` (production's predictor),
    each measured call is followed by one of the reference on the same row, so sustained load slows
    both alike: over the budget, the candidate passes when the reference's p95 misses the budget too
    and the candidate's is at most LATENCY_RELATIVE_SLACK above it."""
    _warm_up(predictor, features)
    if reference is not None and not _can_score(reference, features.iloc[:settings.latency_repetitions]):
        reference = None  # production cannot score these rows (the quality gate says why): judged alone
    timings: list[float] = []
    reference_timings: list[float] = []
    for index in range(settings.latency_repetitions):
        row = features.iloc[[index % len(features)]]
        timings.append(_timed_ms(predictor, row, clock))
        if reference is not None:
            reference_timings.append(_timed_ms(reference, row, clock))
    p95, per_round = _median_round_p95(timings)
    detail = (f"p95 single-row predict {p95:.2f} ms (median of {len(per_round)} rounds' p95 over "
              f"{len(timings)} calls after {LATENCY_WARMUP} warm-up calls; rounds: "
              f"{', '.join(f'{value:.2f}' for value in per_round)})")
    if p95 <= settings.latency_budget_ms or not reference_timings:
        return _judged("latency", p95 <= settings.latency_budget_ms, value=round(p95, 3),
                       threshold=settings.latency_budget_ms, detail=detail)
    production_p95, _ = _median_round_p95(reference_timings)
    limit = production_p95 * (1 + LATENCY_RELATIVE_SLACK)
    slow_machine = production_p95 > settings.latency_budget_ms
    return _judged("latency", slow_machine and p95 <= limit, value=round(p95, 3),
                   threshold=round(limit, 3) if slow_machine else settings.latency_budget_ms,
                   detail=f"{detail}; production, interleaved on the same rows: p95 {production_p95:.2f} ms, "
                          + (f"over the budget too, so the machine is slow: the candidate may be at most "
                             f"{LATENCY_RELATIVE_SLACK:.0%} slower ({limit:.2f} ms)" if slow_machine
                             else "within the budget, so the candidate itself is too slow"))


def _warm_up(predictor: Predictor, features) -> None:
    for index in range(LATENCY_WARMUP):
        predictor.predict(features.iloc[[index % len(features)]])


def _can_score(predictor: Predictor, rows) -> bool:
    """Warm the reference up; False when it raises on the rows it would be timed on."""
    try:
        _warm_up(predictor, rows)
        predictor.predict(rows)
    except Exception:
        return False
    return True


def _timed_ms(predictor: Predictor, row, clock: Callable[[], float]) -> float:
    started = clock()
    predictor.predict(row)
    return (clock() - started) * 1000


def _median_round_p95(timings: list[float]) -> tuple[float, list[float]]:
    import numpy as np

    rounds = [chunk for chunk in np.array_split(np.array(timings), min(LATENCY_ROUNDS, len(timings))) if len(chunk)]
    per_round = [float(np.percentile(chunk, 95)) for chunk in rounds]
    return float(np.median(per_round)), per_round


def integration_gate(spec: str, estimator, holdout) -> GateResult:
    module_name, _, attribute = spec.partition(":")
    try:
        check = getattr(importlib.import_module(module_name), attribute)
        outcome = check(estimator, holdout)
    except Exception as error:
        return GateResult("integration", GateOutcome.FAILED, detail=f"{spec} raised {type(error).__name__}: {error}")
    if outcome is False:
        return GateResult("integration", GateOutcome.FAILED, detail=f"{spec} returned False")
    return GateResult("integration", GateOutcome.PASSED, detail=f"{spec} passed")

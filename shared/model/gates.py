"""The test step: gates a version must pass before it may be promoted.

In order (a gate that makes the later ones meaningless stops the list):
1. `artifact_loads`  the skops file loads with the trusted types only;
2. `scoring_contract`  the held-out rows have the feature columns and dtypes recorded at training,
   and predict on a sample returns one value per row, of the target's dtype kind, from the known
   classes (predict_proba, when present, one row of probabilities per input row);
3. `quality`  on this version's held-out rows, the chosen metric (DRIFTLINE_QUALITY_METRIC) is no
   worse than the current production model's ON THE SAME ROWS, within DRIFTLINE_QUALITY_TOLERANCE;
4. `latency`  p95 of single-row predict within DRIFTLINE_LATENCY_BUDGET_MS, after a warm-up, as the median
   of the p95s of rounds of DRIFTLINE_LATENCY_REPETITIONS calls (robust to a busy machine);
5. `integration`  when DRIFTLINE_INTEGRATION_TESTS names `package.module:function`, it is called with
   (estimator, holdout frame); raising or returning False fails;
6. `integration_tests`  for a version trained from the repository (or an app-code run's commit), once
   the gates above passed: the repository's `[tests] integration` suite from the snapshot, in the
   sandbox, with the `model`, `holdout` and `predict` fixtures (`shared.repo.pytest_plugin`).
Gates 2-4 score through the version's inference code: the `[inference]` module of the snapshot it was
trained from (an app-code run: of its own commit), else the estimator's own predict.

Each gate's outcome is passed, failed, or not_evaluated (it could not judge: the quality gate when the
production model cannot be scored on the rows). Not evaluated is never a pass. Every result (name,
outcome, value, threshold, detail) is recorded on the run; any outcome but passed raises
StopRun(REJECTED) with the reasons, which the step adapter records and notifies.
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
from shared.model import registry
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
    if all(result.passed for result in results):
        report = integration_tests(storage, message.run_id, message.model, version, code)
        if report is not None:
            outputs["integration_tests"] = report_outputs(storage, message.run_id, report)
            results.append(_judged("integration_tests", report.ok, detail=report.summary))
            outputs["gates"] = [result.to_dict() for result in results]
    failed = [result for result in results if not result.passed]
    if failed:
        reasons = "; ".join(f"{result.name}: {result.detail}" for result in failed)
        raise StopRun(RunStatus.REJECTED, f"version {version} failed {len(failed)} gate(s): {reasons}", outputs)
    return outputs


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
    results.append(quality_gate(storage, settings, model, version, predictor, features, labels))
    results.append(latency_gate(settings, predictor, features))
    if settings.integration_tests:
        results.append(integration_gate(settings.integration_tests, predictor.estimator, holdout))
    return results


def predictor_quality(predictor: Predictor, features, labels) -> dict[str, Any]:
    probabilities = None if predictor.predict_proba is None else predictor.predict_proba(features)
    return quality_of(labels, predictor.predict(features), probabilities)


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
    target_kind = np.dtype(schema["target_dtype"]).kind if schema["target_dtype"] != "object" else "O"
    problems = []
    if predicted.shape != (len(sample),):
        problems.append(f"predict returned shape {predicted.shape}, expected ({len(sample)},)")
    elif predicted.dtype.kind not in _DTYPE_KINDS.get(target_kind, target_kind):
        problems.append(f"predict returned dtype {predicted.dtype}, expected one like {schema['target_dtype']}")
    else:
        unknown = {str(value) for value in predicted} - {str(value) for value in schema["classes"]}
        if unknown:
            problems.append(f"predict returned unknown classes {sorted(unknown)[:5]}")
    if not problems and predictor.predict_proba is not None:
        try:
            probabilities = np.asarray(predictor.predict_proba(sample))
            if probabilities.ndim != 2 or probabilities.shape[0] != len(sample):
                problems.append(f"predict_proba returned shape {probabilities.shape}")
        except Exception as error:
            problems.append(f"predict_proba raised {type(error).__name__}: {error}")
    if problems:
        return GateResult("scoring_contract", GateOutcome.FAILED, value=str(predicted.dtype), detail="; ".join(problems))
    return GateResult("scoring_contract", GateOutcome.PASSED, value=str(predicted.dtype),
                      detail=f"{len(expected)} features, {len(sample)} sample rows")


def quality_gate(storage, settings, model, version, predictor, features, labels) -> GateResult:
    from shared.model.code import predictor_for

    metric = settings.quality_metric
    value = predictor_quality(predictor, features, labels).get(metric)
    if value is None:
        return GateResult("quality", GateOutcome.FAILED, detail=f"{metric} cannot be computed for this model")
    production = registry.resolve(storage, model, "production")
    if production is None or production == version:
        why = "no production model to compare with" if production is None else "this version is production"
        return GateResult("quality", GateOutcome.PASSED, value=value, detail=f"{metric} {value:.4f}; {why}")
    try:
        baseline = predictor_quality(predictor_for(storage, model, production), features, labels).get(metric)
    except Exception as error:
        baseline, problem = None, f"{type(error).__name__}: {error}"
    else:
        problem = f"{metric} cannot be computed for it"
    if baseline is None:
        return GateResult("quality", GateOutcome.NOT_EVALUATED, value=value,
                          detail=f"{metric} {value:.4f}, but production v{production} cannot be scored on these "
                                 f"rows ({problem}); promote or roll back by hand")
    threshold = baseline - settings.quality_tolerance
    return _judged(
        "quality", value >= threshold, value=value, threshold=threshold,
        detail=f"{metric} {value:.4f} vs production v{production} {baseline:.4f} on the same held-out rows "
               f"(tolerance {settings.quality_tolerance})",
    )


LATENCY_WARMUP = 5  # calls not measured: first-call costs (caches, lazy imports) are not the model's speed
LATENCY_ROUNDS = 5  # the p95 is taken per round and the median round judged: one busy burst moves one round


def latency_gate(settings: Settings, predictor: Predictor, features,
                 clock: Callable[[], float] = time.perf_counter) -> GateResult:
    """p95 of single-row predict, robust to a busy machine: after LATENCY_WARMUP unmeasured calls, the
    DRIFTLINE_LATENCY_REPETITIONS measured calls are split into LATENCY_ROUNDS rounds; the gate judges the
    median of the rounds' p95s. A model slow on every call still fails; a burst of load on the machine
    during one or two rounds does not fail a sound model."""
    import numpy as np

    repetitions = settings.latency_repetitions
    for index in range(LATENCY_WARMUP):
        predictor.predict(features.iloc[[index % len(features)]])
    timings = []
    for index in range(repetitions):
        row = features.iloc[[index % len(features)]]
        started = clock()
        predictor.predict(row)
        timings.append((clock() - started) * 1000)
    rounds = [chunk for chunk in np.array_split(np.array(timings), min(LATENCY_ROUNDS, repetitions)) if len(chunk)]
    per_round = [float(np.percentile(chunk, 95)) for chunk in rounds]
    p95 = float(np.median(per_round))
    return _judged("latency", p95 <= settings.latency_budget_ms, value=round(p95, 3),
                   threshold=settings.latency_budget_ms,
                   detail=f"p95 single-row predict {p95:.2f} ms (median of {len(rounds)} rounds' p95 over "
                          f"{repetitions} calls after {LATENCY_WARMUP} warm-up calls; rounds: "
                          f"{', '.join(f'{value:.2f}' for value in per_round)})")


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

"""The test step: gates a version must pass before it may be promoted.

In order (a gate that makes the later ones meaningless stops the list):
1. `artifact_loads`  the skops file loads with the trusted types only;
2. `scoring_contract`  the held-out rows have the feature columns and dtypes recorded at training,
   and predict on a sample returns one value per row, of the target's dtype kind, from the known
   classes (predict_proba, when present, one row of probabilities per input row);
3. `quality`  on this version's held-out rows, the chosen metric (DRIFTLINE_QUALITY_METRIC) is no
   worse than the current production model's ON THE SAME ROWS, within DRIFTLINE_QUALITY_TOLERANCE;
4. `latency`  p95 of single-row predict over DRIFTLINE_LATENCY_REPETITIONS calls within DRIFTLINE_LATENCY_BUDGET_MS;
5. `integration`  when DRIFTLINE_INTEGRATION_TESTS names `package.module:function`, it is called with
   (estimator, holdout frame); raising or returning False fails.

Every result (name, passed, value, threshold, detail) is recorded on the run. Any failure raises
StopRun("rejected") with the reasons; the trigger records it and notifies.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from shared.chain import runs
from shared.model import registry
from shared.platform.errors import StopRun
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage

CONTRACT_SAMPLE_ROWS = 20
_DTYPE_KINDS = {"i": "iub", "u": "iub", "b": "iub", "f": "fiu", "O": "OUSb", "U": "OUS", "S": "OUS"}


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    value: Any = None
    threshold: Any = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quality(estimator, features, labels) -> dict[str, Any]:
    """accuracy, balanced_accuracy, f1 (binary, or macro for more classes), roc_auc when the
    estimator gives probabilities (None otherwise), and the row count."""
    import numpy as np
    from sklearn import metrics

    predicted = estimator.predict(features)
    classes = np.unique(np.asarray(labels))
    binary = len(classes) == 2
    result: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(labels, predicted)),
        "f1": float(metrics.f1_score(labels, predicted, average="binary" if binary else "macro",
                                     pos_label=classes[-1] if binary else 1, zero_division=0)),
        "roc_auc": None,
        "n": int(len(labels)),
    }
    if hasattr(estimator, "predict_proba") and len(classes) >= 2:
        try:
            probabilities = estimator.predict_proba(features)
            known = list(getattr(estimator, "classes_", classes))
            if binary:
                score = metrics.roc_auc_score(np.asarray(labels) == known[-1], probabilities[:, -1])
            else:
                score = metrics.roc_auc_score(labels, probabilities, multi_class="ovr", labels=known)
            result["roc_auc"] = float(score)
        except ValueError:
            pass  # e.g. a class of the held-out rows the model never saw
    return result


def tested_version(storage: Storage, message: StepMessage) -> int:
    """The version under test: the registered one, or production for the `app` plan."""
    run = runs.get_run(storage, message.run_id)
    if run is not None and run["plan"] == "app":
        version = registry.resolve(storage, message.model, "production")
        if version is None:
            raise StopRun("skipped", f"model {message.model} has no production version to test the new code with.")
        return version
    version = message.payload.get("version")
    if not isinstance(version, int):
        raise StopRun("failed", "the test step needs the registered version in the message payload.")
    return version


def run_gates(storage: Storage, settings: Settings, message: StepMessage) -> dict[str, Any]:
    """The test step: returns {"version", "gates"}; raises StopRun("rejected") when a gate fails."""
    version = tested_version(storage, message)
    results = evaluate(storage, settings, message.model, version)
    outputs = {"version": version, "gates": [result.to_dict() for result in results]}
    failed = [result for result in results if not result.passed]
    if failed:
        reasons = "; ".join(f"{result.name}: {result.detail}" for result in failed)
        raise StopRun("rejected", f"version {version} failed {len(failed)} gate(s): {reasons}", outputs)
    return outputs


def evaluate(storage: Storage, settings: Settings, model: str, version: int) -> list[GateResult]:
    info = registry.version_info(storage, model, version)
    schema = info["schema"]
    try:
        estimator = registry.load_estimator(storage, model, version)
    except Exception as error:
        return [GateResult("artifact_loads", False, detail=f"{type(error).__name__}: {error}")]
    results = [GateResult("artifact_loads", True, detail="loaded with trusted types")]
    holdout = registry.load_holdout(storage, model, version)
    contract = scoring_contract(estimator, holdout, schema)
    results.append(contract)
    if not contract.passed:
        return results
    features = holdout[[f["name"] for f in schema["features"]]]
    labels = holdout[schema["target"]]
    results.append(quality_gate(storage, settings, model, version, estimator, features, labels))
    results.append(latency_gate(settings, estimator, features))
    if settings.integration_tests:
        results.append(integration_gate(settings.integration_tests, estimator, holdout))
    return results


def scoring_contract(estimator, holdout, schema: dict[str, Any]) -> GateResult:
    import numpy as np

    expected = {f["name"]: f["dtype"] for f in schema["features"]}
    actual = {column: str(holdout[column].dtype) for column in holdout.columns if column != schema["target"]}
    if actual != expected:
        return GateResult("scoring_contract", False, value=actual, threshold=expected,
                          detail="held-out columns do not match the training input schema")
    sample = holdout[list(expected)].head(CONTRACT_SAMPLE_ROWS)
    try:
        predicted = np.asarray(estimator.predict(sample))
    except Exception as error:
        return GateResult("scoring_contract", False, detail=f"predict raised {type(error).__name__}: {error}")
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
    if not problems and hasattr(estimator, "predict_proba"):
        try:
            probabilities = np.asarray(estimator.predict_proba(sample))
            if probabilities.ndim != 2 or probabilities.shape[0] != len(sample):
                problems.append(f"predict_proba returned shape {probabilities.shape}")
        except Exception as error:
            problems.append(f"predict_proba raised {type(error).__name__}: {error}")
    if problems:
        return GateResult("scoring_contract", False, value=str(predicted.dtype), detail="; ".join(problems))
    return GateResult("scoring_contract", True, value=str(predicted.dtype),
                      detail=f"{len(expected)} features, {len(sample)} sample rows")


def quality_gate(storage, settings, model, version, estimator, features, labels) -> GateResult:
    metric = settings.quality_metric
    value = quality(estimator, features, labels).get(metric)
    if value is None:
        return GateResult("quality", False, detail=f"{metric} cannot be computed for this model")
    production = registry.resolve(storage, model, "production")
    if production is None or production == version:
        why = "no production model to compare with" if production is None else "this version is production"
        return GateResult("quality", True, value=value, detail=f"{metric} {value:.4f}; {why}")
    try:
        baseline = quality(registry.load_estimator(storage, model, production), features, labels).get(metric)
    except Exception as error:
        return GateResult("quality", True, value=value,
                          detail=f"production version {production} cannot be evaluated ({type(error).__name__}: {error})")
    threshold = None if baseline is None else baseline - settings.quality_tolerance
    passed = threshold is None or value >= threshold
    return GateResult(
        "quality", passed, value=value, threshold=threshold,
        detail=f"{metric} {value:.4f} vs production v{production} {baseline:.4f} on the same held-out rows "
               f"(tolerance {settings.quality_tolerance})" if baseline is not None else f"{metric} {value:.4f}",
    )


def latency_gate(settings: Settings, estimator, features) -> GateResult:
    import numpy as np

    timings = []
    repetitions = settings.latency_repetitions
    for index in range(repetitions):
        row = features.iloc[[index % len(features)]]
        started = time.perf_counter()
        estimator.predict(row)
        timings.append((time.perf_counter() - started) * 1000)
    p95 = float(np.percentile(timings, 95))
    return GateResult("latency", p95 <= settings.latency_budget_ms, value=round(p95, 3),
                      threshold=settings.latency_budget_ms,
                      detail=f"p95 single-row predict {p95:.2f} ms over {repetitions} calls")


def integration_gate(spec: str, estimator, holdout) -> GateResult:
    module_name, _, attribute = spec.partition(":")
    try:
        check = getattr(importlib.import_module(module_name), attribute)
        outcome = check(estimator, holdout)
    except Exception as error:
        return GateResult("integration", False, detail=f"{spec} raised {type(error).__name__}: {error}")
    if outcome is False:
        return GateResult("integration", False, detail=f"{spec} returned False")
    return GateResult("integration", True, detail=f"{spec} passed")

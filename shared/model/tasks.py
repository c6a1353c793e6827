"""What kind of model a version is (classification or regression), and how each kind is judged.

The task is fixed at training and recorded in the version's `schema.json` (`task`); everything after
training (the gates, the scoring answer, the canary) reads it from there. A schema without `task`
(written before regression was supported) is a classifier's.

How training decides (`resolve`), first that applies:
1. the repository's `driftline.toml` `[model] task` (runs trained from the repository);
2. the app setting DRIFTLINE_TASK when it is `classification` or `regression`;
3. `auto`: the task of the production model, when there is one (a model does not change kind because
   one upload looks different; declare the task to change it);
4. `auto` with no production model: detected from the target column (`detect`): a boolean, text or
   categorical target is classification; a numeric target is classification when every value is a
   whole number and there are at most CLASS_LIMIT (20) distinct values (0/1, 1..5 ratings, also read
   as floats like 0.0/1.0), and regression otherwise (prices, amounts, durations, counts with many
   values).

Metrics (`Metric`): accuracy, balanced_accuracy, f1, roc_auc (classification, higher is better); rmse
and mae (regression, lower is better) and r2 (regression, higher is better). DRIFTLINE_QUALITY_METRIC
`auto` is accuracy for a classifier and rmse for a regressor. DRIFTLINE_QUALITY_TOLERANCE is an
absolute margin for the metrics bounded by 1 (accuracy..., r2) and a relative one for rmse and mae,
whose scale is the target's (0.01: at most 1% more error than production).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.platform.settings import CLASSIFICATION_METRICS, REGRESSION_METRICS

CLASS_LIMIT = 20


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True)
class Metric:
    name: str
    task: Task
    higher_is_better: bool
    relative_tolerance: bool  # the tolerance is a share of production's value, not an absolute margin

    def threshold(self, baseline: float, tolerance: float) -> float:
        """The worst value still acceptable against production's `baseline`."""
        margin = abs(baseline) * tolerance if self.relative_tolerance else tolerance
        return baseline - margin if self.higher_is_better else baseline + margin

    def acceptable(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.higher_is_better else value <= threshold

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


METRICS: dict[str, Metric] = {
    **{name: Metric(name, Task.CLASSIFICATION, True, False) for name in CLASSIFICATION_METRICS},
    **{name: Metric(name, Task.REGRESSION, name == "r2", name != "r2") for name in REGRESSION_METRICS},
}
DEFAULT_METRIC = {Task.CLASSIFICATION: "accuracy", Task.REGRESSION: "rmse"}


def metric_for(setting: str, task: Task) -> Metric:
    """The quality metric for a model of `task` under DRIFTLINE_QUALITY_METRIC; raises ValueError when
    the setting names a metric of the other kind."""
    name = DEFAULT_METRIC[task] if setting == "auto" else setting
    metric = METRICS[name]
    if metric.task is not task:
        choices = ", ".join(n for n, m in METRICS.items() if m.task is task)
        raise ValueError(f"DRIFTLINE_QUALITY_METRIC={name} is a {metric.task} metric, but this model is a "
                         f"{task}: use auto or one of {choices}")
    return metric


def task_of(schema: dict[str, Any]) -> Task:
    """The task a version's schema.json records (classification for schemas older than the field)."""
    return Task(schema.get("task", Task.CLASSIFICATION))


def detect(labels) -> Task:
    """The task a target column looks like (rule in the module docstring)."""
    import numpy as np
    import pandas as pd

    values = pd.Series(labels).dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return Task.CLASSIFICATION
    numbers = values.to_numpy(dtype=float)
    whole = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
    return Task.CLASSIFICATION if whole and values.nunique() <= CLASS_LIMIT else Task.REGRESSION


@dataclass(frozen=True)
class Resolved:
    task: Task
    how: str  # declared in driftline.toml | DRIFTLINE_TASK | production's | detected: ...


def resolve(labels, *, declared: str | None, setting: str, production: Task | None) -> Resolved:
    """The task of a new version (order in the module docstring)."""
    if declared is not None:
        return Resolved(Task(declared), "declared in driftline.toml [model] task")
    if setting != "auto":
        return Resolved(Task(setting), f"DRIFTLINE_TASK={setting}")
    if production is not None:
        return Resolved(production, "the production model's task (DRIFTLINE_TASK=auto)")
    task = detect(labels)
    distinct = int(labels.nunique())
    return Resolved(task, f"detected from the target: {labels.dtype} with {distinct} distinct values")

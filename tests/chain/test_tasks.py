"""The task of a model (shared/model/tasks.py): detection, the order of what decides it, the metrics of
each kind with their direction and tolerance, and the regression metrics themselves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shared.model import metrics, tasks
from shared.model.tasks import Task


@pytest.mark.parametrize(("values", "task"), [
    ([0, 1, 1, 0], Task.CLASSIFICATION),
    ([0.0, 1.0, 1.0, np.nan], Task.CLASSIFICATION),  # 0/1 labels read as floats
    ([True, False, True], Task.CLASSIFICATION),
    (["churn", "stay", "churn"], Task.CLASSIFICATION),
    (list(range(1, 21)) * 2, Task.CLASSIFICATION),  # 20 whole values: still classes
    (list(range(1, 22)) * 2, Task.REGRESSION),  # 21 whole values: a count or an amount
    ([1.5, 2.0, 2.5, 3.0], Task.REGRESSION),  # few values, but not whole
    (list(np.linspace(43.6, 1123.2, 500).round(1)), Task.REGRESSION),  # prices
])
def test_detect(values, task):
    assert tasks.detect(pd.Series(values)) is task


def test_what_decides_the_task_in_order():
    prices = pd.Series([101.5, 230.0, 99.9, 310.2])
    regression = tasks.resolve(prices, declared=None, setting="auto", production=None)
    assert regression == tasks.Resolved(Task.REGRESSION, "detected from the target: float64 with 4 distinct values")
    assert tasks.resolve(prices, declared=None, setting="auto", production=Task.CLASSIFICATION).task is Task.CLASSIFICATION
    assert tasks.resolve(prices, declared=None, setting="classification", production=Task.REGRESSION).how == \
        "DRIFTLINE_TASK=classification"
    declared = tasks.resolve(prices, declared="regression", setting="classification", production=Task.CLASSIFICATION)
    assert declared == tasks.Resolved(Task.REGRESSION, "declared in driftline.toml [model] task")


def test_metrics_have_a_task_a_direction_and_a_tolerance_kind():
    assert tasks.metric_for("auto", Task.CLASSIFICATION).name == "accuracy"
    rmse = tasks.metric_for("auto", Task.REGRESSION)
    assert rmse.name == "rmse" and not rmse.higher_is_better
    assert rmse.threshold(40.0, 0.05) == pytest.approx(42.0) and rmse.acceptable(41.9, 42.0) and not rmse.acceptable(42.1, 42.0)
    r2 = tasks.metric_for("r2", Task.REGRESSION)
    assert r2.threshold(0.9, 0.01) == pytest.approx(0.89) and r2.acceptable(0.895, 0.89)
    accuracy = tasks.metric_for("accuracy", Task.CLASSIFICATION)
    assert accuracy.threshold(0.8, 0.01) == pytest.approx(0.79) and not accuracy.acceptable(0.78, 0.79)
    with pytest.raises(ValueError, match="roc_auc is a classification metric, but this model is a regression"):
        tasks.metric_for("roc_auc", Task.REGRESSION)
    with pytest.raises(ValueError, match="mae is a regression metric"):
        tasks.metric_for("mae", Task.CLASSIFICATION)


def test_a_schema_without_a_task_is_a_classifiers():
    assert tasks.task_of({"target": "label", "classes": [0, 1]}) is Task.CLASSIFICATION
    assert tasks.task_of({"task": "regression"}) is Task.REGRESSION


def test_regression_metrics():
    scored = metrics.quality_of([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0], task="regression")
    assert scored == {"rmse": pytest.approx(1.0), "mae": pytest.approx(0.5), "r2": pytest.approx(0.2), "n": 4}
    assert metrics.quality_of([5.0], [4.0], task="regression")["r2"] is None
    with pytest.raises(ValueError, match="not all finite"):
        metrics.regression_quality([1.0, 2.0], [1.0, math.nan])
    with pytest.raises(ValueError, match="3 predictions for 2 rows"):
        metrics.regression_quality([1.0, 2.0], [1.0, 2.0, 3.0])
    assert "accuracy" in metrics.quality_of([0, 1, 1], [0, 1, 0])  # a classifier's, by default

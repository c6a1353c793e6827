"""Model quality on labeled rows: the metrics training reports and the quality gate compares.

`quality_of` scores predictions already made (by the estimator here, or by the repository's inference
code in the sandbox); `quality` makes them with an estimator first. A classifier gets accuracy,
balanced_accuracy, f1 and roc_auc; a regressor rmse, mae and r2 (`regression_quality`); both the row
count `n`. Which kind is scored is the version's task (`shared.model.tasks`).
"""

from __future__ import annotations

from typing import Any


def quality(estimator, features, labels, task: str = "classification") -> dict[str, Any]:
    """`quality_of` the estimator's own predictions (and probabilities, when it gives them)."""
    predicted = estimator.predict(features)
    if task == "regression":
        return regression_quality(labels, predicted)
    probabilities, classes = None, None
    if hasattr(estimator, "predict_proba"):
        try:
            probabilities = estimator.predict_proba(features)
            classes = getattr(estimator, "classes_", None)
        except ValueError:
            probabilities = None
    return quality_of(labels, predicted, probabilities, classes)


def regression_quality(labels, predicted) -> dict[str, Any]:
    """rmse, mae and r2 (None with fewer than two rows, where it is undefined) and the row count.
    Predictions that are not finite numbers raise ValueError: such a model cannot be scored."""
    import numpy as np
    from sklearn import metrics

    truth = np.asarray(labels, dtype=float)
    guess = np.asarray(predicted, dtype=float)
    if guess.shape != truth.shape:
        raise ValueError(f"{guess.shape[0] if guess.ndim else 0} predictions for {len(truth)} rows")
    if not np.all(np.isfinite(guess)):
        raise ValueError("predictions are not all finite numbers")
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(truth, guess))),
        "mae": float(metrics.mean_absolute_error(truth, guess)),
        "r2": float(metrics.r2_score(truth, guess)) if len(truth) >= 2 else None,
        "n": int(len(truth)),
    }


def quality_of(labels, predicted, probabilities=None, classes=None, task: str = "classification") -> dict[str, Any]:
    """A regressor's `regression_quality`; for a classifier accuracy, balanced_accuracy, f1 (binary, or macro for more classes), roc_auc when probabilities
    are given (None otherwise), and the row count."""
    if task == "regression":
        return regression_quality(labels, predicted)
    import numpy as np
    from sklearn import metrics

    labels = np.asarray(labels)
    predicted = np.asarray(predicted)
    seen = np.unique(labels)
    binary = len(seen) == 2
    result: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(labels, predicted)),
        "f1": float(metrics.f1_score(labels, predicted, average="binary" if binary else "macro",
                                     pos_label=seen[-1] if binary else 1, zero_division=0)),
        "roc_auc": None,
        "n": int(len(labels)),
    }
    if probabilities is not None and len(seen) >= 2:
        probabilities = np.asarray(probabilities, dtype=float)
        known = list(seen if classes is None else classes)
        try:
            if binary:
                score = metrics.roc_auc_score(labels == known[-1], probabilities[:, -1])
            else:
                score = metrics.roc_auc_score(labels, probabilities, multi_class="ovr", labels=known)
            result["roc_auc"] = float(score)
        except ValueError:
            pass  # e.g. a class of the held-out rows the model never saw
    return result

"""Model quality on labeled rows: the metrics training reports and the quality gate compares.

`quality_of` scores predictions already made (by the estimator here, or by the repository's inference
code in the sandbox); `quality` makes them with an estimator first.
"""

from __future__ import annotations

from typing import Any


def quality(estimator, features, labels) -> dict[str, Any]:
    """`quality_of` the estimator's own predictions (and probabilities, when it gives them)."""
    predicted = estimator.predict(features)
    probabilities, classes = None, None
    if hasattr(estimator, "predict_proba"):
        try:
            probabilities = estimator.predict_proba(features)
            classes = getattr(estimator, "classes_", None)
        except ValueError:
            probabilities = None
    return quality_of(labels, predicted, probabilities, classes)


def quality_of(labels, predicted, probabilities=None, classes=None) -> dict[str, Any]:
    """accuracy, balanced_accuracy, f1 (binary, or macro for more classes), roc_auc when probabilities
    are given (None otherwise), and the row count."""
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

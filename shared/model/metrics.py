"""Model quality on labeled rows: the metrics training reports and the quality gate compares."""

from __future__ import annotations

from typing import Any


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

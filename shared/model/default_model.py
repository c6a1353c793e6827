"""The built-in training entry point, used when DRIFTLINE_TRAINING_ENTRY_POINT is not set.

A sensible tabular model: numeric columns imputed (median) and scaled, other columns imputed
(most frequent) and one-hot encoded (unknown categories ignored at scoring), then gradient boosting:
HistGradientBoostingClassifier for a classification task, HistGradientBoostingRegressor (squared
error) for a regression task. It follows the entry-point contract:
`train(frame, params) -> (fitted estimator, metrics)`.

Parameters (DRIFTLINE_TRAINING_PARAMS): `target_column` and `task` (given by the chain:
classification or regression, see shared/model/tasks.py), `seed` (0), `test_size` (0.2),
`max_iter` (200), `learning_rate` (0.1), `max_leaf_nodes` (31).
"""

from __future__ import annotations

from typing import Any


def build_pipeline(frame, target: str, params: dict[str, Any]):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = frame.drop(columns=[target])
    numeric = list(features.select_dtypes(include=["number", "bool"]).columns)
    categorical = [column for column in features.columns if column not in numeric]
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
             numeric),
            ("categorical", Pipeline([
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]), categorical),
        ]
    )
    boosting = HistGradientBoostingRegressor if params.get("task") == "regression" else HistGradientBoostingClassifier
    estimator = boosting(
        max_iter=int(params.get("max_iter", 200)),
        learning_rate=float(params.get("learning_rate", 0.1)),
        max_leaf_nodes=int(params.get("max_leaf_nodes", 31)),
        random_state=int(params.get("seed", 0)),
    )
    step = "regress" if params.get("task") == "regression" else "classify"
    return Pipeline([("preprocess", preprocess), (step, estimator)])


def train(frame, params: dict[str, Any]):
    """Fit on a seeded split of `frame` and report metrics on the rest."""
    from sklearn.model_selection import train_test_split

    from shared.model.metrics import quality

    target = params.get("target_column", "label")
    seed = int(params.get("seed", 0))
    task = str(params.get("task", "classification"))
    labels = frame[target]
    stratify = labels if task != "regression" and labels.value_counts().min() >= 2 else None
    fit_part, test_part = train_test_split(
        frame, test_size=float(params.get("test_size", 0.2)), random_state=seed, stratify=stratify
    )
    pipeline = build_pipeline(frame, target, params)
    pipeline.fit(fit_part.drop(columns=[target]), fit_part[target])
    metrics = quality(pipeline, test_part.drop(columns=[target]), test_part[target], task)
    metrics.update(n_train=int(len(fit_part)), n_test=int(len(test_part)))
    return pipeline, metrics

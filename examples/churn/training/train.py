"""The training entry point Driftline calls (driftline.toml [training] entry_point).

`train(frame, params) -> (pipeline, metrics)`: the features of `training.features`, then a
scikit-learn Pipeline (numeric columns imputed and scaled, categories one-hot encoded, a random
forest), fitted on a seeded stratified split; the metrics are measured on the rows held out of
that split. The pipeline expects featured frames: serve it through `inference.score`.

Parameters: `target_column` ("label"), `seed` (0), `test_size` (0.2), `n_estimators` (200),
`max_depth` (6; 0 for unlimited).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training.features import add_features


def build_pipeline(features: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    numeric = list(features.select_dtypes(include="number").columns)
    categorical = [column for column in features.columns if column not in numeric]
    preprocess = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
        ("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), categorical),
    ])
    depth = int(params.get("max_depth", 6))
    classifier = RandomForestClassifier(
        n_estimators=int(params.get("n_estimators", 200)),
        max_depth=depth or None,
        random_state=int(params.get("seed", 0)),
    )
    return Pipeline([("preprocess", preprocess), ("classify", classifier)])


def train(frame: pd.DataFrame, params: dict[str, Any]) -> tuple[Pipeline, dict[str, Any]]:
    """Fit on a seeded split of `frame` (features + target) and report metrics on the rest."""
    target = params.get("target_column", "label")
    seed = int(params.get("seed", 0))
    features = add_features(frame.drop(columns=[target]))
    labels = frame[target]
    fit_x, test_x, fit_y, test_y = train_test_split(
        features, labels, test_size=float(params.get("test_size", 0.2)), random_state=seed,
        stratify=labels if labels.value_counts().min() >= 2 else None,
    )
    pipeline = build_pipeline(features, params)
    pipeline.fit(fit_x, fit_y)
    predicted = pipeline.predict(test_x)
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "f1": float(f1_score(test_y, predicted, pos_label=pipeline.classes_[-1])),
        "n_train": int(len(fit_x)),
        "n_test": int(len(test_x)),
    }
    if test_y.nunique() == 2:
        metrics["roc_auc"] = float(roc_auc_score(test_y == pipeline.classes_[-1], pipeline.predict_proba(test_x)[:, 1]))
    return pipeline, metrics

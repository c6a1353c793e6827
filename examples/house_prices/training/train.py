"""The training entry point Driftline calls (driftline.toml [training] entry_point).

`train(frame, params) -> (pipeline, metrics)`: a scikit-learn Pipeline (numeric columns imputed,
categories one-hot encoded, then a HistGradientBoostingRegressor on the log of the price, so the
error is relative across cheap and expensive houses), fitted on a seeded split; rmse, mae and r2
are measured on the rows held out of that split, in the price's own unit.

Parameters: `target_column` ("price"), `seed` (0), `test_size` (0.2), `max_iter` (150),
`learning_rate` (0.1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def build_pipeline(features: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    numeric = list(features.select_dtypes(include="number").columns)
    categorical = [column for column in features.columns if column not in numeric]
    preprocess = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), numeric),
        ("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), categorical),
    ])
    boosting = HistGradientBoostingRegressor(
        max_iter=int(params.get("max_iter", 150)),
        learning_rate=float(params.get("learning_rate", 0.1)),
        random_state=int(params.get("seed", 0)),
    )
    regressor = TransformedTargetRegressor(regressor=boosting, func=np.log1p, inverse_func=np.expm1)
    return Pipeline([("preprocess", preprocess), ("regress", regressor)])


def train(frame: pd.DataFrame, params: dict[str, Any]) -> tuple[Pipeline, dict[str, Any]]:
    """Fit on a seeded split of `frame` (features + target) and report metrics on the rest."""
    target = params.get("target_column", "price")
    features, labels = frame.drop(columns=[target]), frame[target].astype(float)
    fit_x, test_x, fit_y, test_y = train_test_split(
        features, labels, test_size=float(params.get("test_size", 0.2)), random_state=int(params.get("seed", 0)))
    pipeline = build_pipeline(features, params)
    pipeline.fit(fit_x, fit_y)
    predicted = pipeline.predict(test_x)
    metrics = {
        "rmse": float(np.sqrt(mean_squared_error(test_y, predicted))),
        "mae": float(mean_absolute_error(test_y, predicted)),
        "r2": float(r2_score(test_y, predicted)),
        "n_train": int(len(fit_x)),
        "n_test": int(len(test_x)),
    }
    return pipeline, metrics

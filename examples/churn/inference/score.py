"""Scoring for the churn model (driftline.toml [inference] module).

The model was fitted on featured frames, so both functions add the same features as training
(`training.features.add_features`) before asking the model. Input: a DataFrame of customers with the
raw columns; output: one class per row, or one [p(class 0), p(class 1)] per row.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.features import add_features


def predict(model: Any, frame: pd.DataFrame) -> list[Any]:
    return model.predict(add_features(frame)).tolist()


def predict_proba(model: Any, frame: pd.DataFrame) -> list[list[float]]:
    return model.predict_proba(add_features(frame)).tolist()

"""Derived features of a customer, shared by training and scoring so both see the same columns.

`add_features` is pure: it returns a new frame with the derived columns added and never changes
its input. Undefined ratios (zero or missing denominators) are NaN, never inf, so the model's
imputer handles them like any missing value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DERIVED = ("balance_to_income", "products_per_year")
REQUIRED = ("balance", "income", "products", "tenure_months")


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus balance_to_income (balance / income) and products_per_year (products per year of tenure)."""
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise KeyError(f"the features need the columns {', '.join(missing)}")
    featured = frame.copy()
    featured["balance_to_income"] = _ratio(frame["balance"], frame["income"])
    featured["products_per_year"] = _ratio(frame["products"], frame["tenure_months"] / 12.0)
    return featured


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    numerator = pd.to_numeric(numerator, errors="coerce").astype("float64")
    denominator = pd.to_numeric(denominator, errors="coerce").astype("float64")
    return (numerator / denominator.where(denominator > 0)).replace([np.inf, -np.inf], np.nan)

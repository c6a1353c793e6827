"""Fast checks of the feature function: values, undefined ratios, purity."""

import math

import pandas as pd
import pytest

from training.features import DERIVED, add_features


def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "income": [40000.0, 0.0, None, 20000.0],
        "balance": [2000.0, 500.0, 100.0, None],
        "products": [2, 3, 1, 4],
        "tenure_months": [24, 0, 12, 6],
        "region": ["north", "south", "east", "west"],
    })


def test_ratios_are_computed_per_row():
    featured = add_features(customers())
    assert featured.loc[0, "balance_to_income"] == pytest.approx(0.05)
    assert featured.loc[0, "products_per_year"] == pytest.approx(1.0)
    assert featured.loc[3, "products_per_year"] == pytest.approx(8.0)


def test_undefined_ratios_are_nan_never_inf():
    featured = add_features(customers())
    assert math.isnan(featured.loc[1, "balance_to_income"])  # zero income
    assert math.isnan(featured.loc[1, "products_per_year"])  # zero tenure
    assert math.isnan(featured.loc[2, "balance_to_income"])  # missing income
    assert math.isnan(featured.loc[3, "balance_to_income"])  # missing balance
    assert not featured[list(DERIVED)].isin([math.inf, -math.inf]).any().any()


def test_the_input_is_not_changed_and_other_columns_are_kept():
    frame = customers()
    before = frame.copy()
    featured = add_features(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(featured.columns) == list(frame.columns) + list(DERIVED)
    pd.testing.assert_frame_equal(featured[list(frame.columns)], frame)


def test_a_missing_column_is_named():
    with pytest.raises(KeyError, match="income"):
        add_features(customers().drop(columns=["income"]))

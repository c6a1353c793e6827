"""The canary's A/B comparison (shared/model/abtest.py): it rolls back a canary only when feedback shows
it worse than production beyond the tolerance with the confidence asked. Checked by simulation: with
equal models a canary is wrongly called worse at most about 1 - confidence of the time, and a clearly
worse one is caught nearly always once there are enough labels."""

from __future__ import annotations

import numpy as np
import pytest

from shared.model import abtest

TRIALS = 2000


def test_equal_classifiers_are_called_worse_at_most_one_time_in_twenty():
    rng = np.random.default_rng(11)
    for n in (20, 60, 400):
        canary, production = rng.binomial(n, 0.8, TRIALS), rng.binomial(n, 0.8, TRIALS)
        worse = [abtest.accuracy(int(c), n, int(p), n, tolerance=0.0, confidence=0.95).worse
                 for c, p in zip(canary, production, strict=True)]
        assert np.mean(worse) <= 0.06, (n, np.mean(worse))


def test_a_clearly_worse_classifier_is_caught_once_there_are_enough_labels():
    rng = np.random.default_rng(12)
    caught = {n: np.mean([abtest.accuracy(int(c), n, int(p), n, tolerance=0.01, confidence=0.95).worse
                          for c, p in zip(rng.binomial(n, 0.70, TRIALS), rng.binomial(n, 0.85, TRIALS), strict=True)])
              for n in (20, 400)}
    assert caught[400] >= 0.99 and caught[20] < caught[400]  # few labels cannot tell so much


def test_the_tolerance_is_the_margin_a_canary_may_lose_by():
    slightly = abtest.accuracy(8_400, 10_000, 8_500, 10_000, tolerance=0.02, confidence=0.95)
    assert not slightly.worse and slightly.difference == pytest.approx(-0.01)
    assert abtest.accuracy(8_400, 10_000, 8_500, 10_000, tolerance=0.0, confidence=0.95).worse
    assert slightly.low < slightly.difference < slightly.high < 0


def test_equal_regressors_are_called_worse_at_most_one_time_in_twenty():
    rng = np.random.default_rng(13)
    worse = []
    for _ in range(TRIALS):
        canary, production = np.abs(rng.normal(0, 10, 50)), np.abs(rng.normal(0, 10, 50))
        worse.append(abtest.mean_error(canary.sum(), (canary ** 2).sum(), 50, production.sum(),
                                       (production ** 2).sum(), 50, tolerance=0.0, confidence=0.95).worse)
    assert np.mean(worse) <= 0.06


def test_a_regressor_with_a_much_larger_error_is_caught_and_a_slightly_larger_one_is_within_tolerance():
    rng = np.random.default_rng(14)
    production = np.abs(rng.normal(0, 10, 500))
    for scale, expected in ((1.5, True), (1.02, False)):
        canary = np.abs(rng.normal(0, 10 * scale, 500))
        comparison = abtest.mean_error(canary.sum(), (canary ** 2).sum(), 500, production.sum(),
                                       (production ** 2).sum(), 500, tolerance=0.1, confidence=0.95)
        assert comparison.worse is expected, comparison.describe()
        assert comparison.low < comparison.difference < comparison.high


def test_without_the_sums_of_squares_the_point_estimates_decide():
    comparison = abtest.mean_error(120.0, None, 10, 100.0, None, 10, tolerance=0.1, confidence=0.95)
    assert comparison.worse and comparison.low is None and comparison.margin == pytest.approx(1.0)
    assert "interval" not in comparison.describe()
    assert not abtest.mean_error(105.0, None, 10, 100.0, None, 10, tolerance=0.1, confidence=0.95).worse

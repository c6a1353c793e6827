"""The canary's A/B comparison with production on feedback: is the canary worse, with confidence?

Pure statistics over the feedback counters (no I/O; `shared.model.canary` reads the counters and acts).
The question is the one canary analysis asks (as Kayenta's judge does): a canary is rolled back only
when the feedback shows it worse than production by more than the tolerance at the configured
confidence (DRIFTLINE_CANARY_CONFIDENCE, one-sided); a difference the feedback cannot tell from noise
does not roll it back. Each comparison keeps the difference, its interval (two-sided at 2c - 1, so
each end is the one-sided bound at the confidence c) and the sample sizes, so the decision's reason
shows the evidence.

- `accuracy`: a classifier's share of correct labels, canary minus production, with the
  Agresti-Caffo interval (one success and one failure added to each side: the Wald interval's
  coverage without its collapse at 0 % or 100 % on small samples).
- `mean_error`: a regressor's mean absolute error, canary minus production, with Welch's interval
  from the sums of the errors and of their squares; the tolerance is relative to production's error.
  Without the sums of squares (counters from before they were kept) there is no interval, and the
  point estimates decide, as they did then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Comparison:
    metric: str  # "accuracy" or "mean absolute error"
    canary: float
    production: float
    difference: float  # canary minus production
    low: float | None  # the difference's interval, each end a one-sided bound (None: not enough to tell)
    high: float | None
    margin: float  # how much worse the canary may be, in the metric's units
    worse: bool  # worse than production beyond the margin, with the confidence
    confidence: float
    n_canary: int
    n_production: int

    def describe(self) -> str:
        interval = ("" if self.low is None or self.high is None
                    else f", {2 * self.confidence - 1:.0%} interval {self.low:+.4g} to {self.high:+.4g}")
        return (f"feedback {self.metric} {self.canary:.4g} on {self.n_canary} labels against production's "
                f"{self.production:.4g} on {self.n_production} (difference {self.difference:+.4g}{interval}, "
                f"tolerance {self.margin:.4g})")


def _z(confidence: float) -> float:
    """The normal quantile of a one-sided test at `confidence` (1.645 at 95 %)."""
    return NormalDist().inv_cdf(confidence)


def accuracy(canary_correct: int, canary_total: int, production_correct: int, production_total: int, *,
             tolerance: float, confidence: float) -> Comparison:
    """Worse when even the interval's upper end of (canary - production) accuracy is below -tolerance."""
    canary, production = canary_correct / canary_total, production_correct / production_total
    adjusted_c = (canary_correct + 1) / (canary_total + 2)
    adjusted_p = (production_correct + 1) / (production_total + 2)
    center = adjusted_c - adjusted_p
    spread = _z(confidence) * math.sqrt(adjusted_c * (1 - adjusted_c) / (canary_total + 2)
                                        + adjusted_p * (1 - adjusted_p) / (production_total + 2))
    low, high = center - spread, center + spread
    return Comparison("accuracy", canary, production, canary - production, low, high, tolerance,
                      bool(high < -tolerance), confidence, canary_total, production_total)


def mean_error(canary_sum: float, canary_squares: float | None, canary_total: int, production_sum: float,
               production_squares: float | None, production_total: int, *, tolerance: float,
               confidence: float) -> Comparison:
    """Worse when even the interval's lower end of (canary - production) mean absolute error is above
    `tolerance` times production's; by the point estimates without the sums of squares."""
    canary, production = float(canary_sum) / canary_total, float(production_sum) / production_total
    margin = tolerance * production
    difference = canary - production
    if canary_squares is None or production_squares is None or min(canary_total, production_total) < 2:
        return Comparison("mean absolute error", canary, production, difference, None, None, margin,
                          bool(difference > margin), confidence, canary_total, production_total)
    spread = _z(confidence) * math.sqrt(
        _variance(float(canary_sum), float(canary_squares), canary_total) / canary_total
        + _variance(float(production_sum), float(production_squares), production_total) / production_total)
    low, high = difference - spread, difference + spread
    return Comparison("mean absolute error", canary, production, difference, low, high, margin, bool(low > margin),
                      confidence, canary_total, production_total)


def _variance(total: float, squares: float, n: int) -> float:
    """The sample variance from a sum and a sum of squares (never below 0 from rounding)."""
    return max(0.0, (squares - total * total / n) / (n - 1))

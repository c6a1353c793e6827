"""Counts on fixed bins: every value lands in exactly one cell; partition counts merge exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.drift import build_profile, observe
from shared.drift.counts import Observed
from shared.drift.layout import NumericLayout

REF = pd.DataFrame({
    "x": np.random.default_rng(0).normal(size=3000),
    "k": np.random.default_rng(1).choice(["a", "b", "c"], 3000),
})
PROFILE = build_profile(REF)

values = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6),
                   st.sampled_from([float("inf"), float("-inf"), float("nan")]))
labels = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "zz", ""]))
rows = st.lists(st.tuples(values, labels), min_size=0, max_size=40)


def table(part: list[tuple]) -> pa.Table:
    return pa.table({"x": pa.array([r[0] for r in part], pa.float64()),
                     "k": pa.array([r[1] for r in part], pa.string())})


def counts(part: list[tuple]) -> Observed:
    return observe(PROFILE, table(part))


def same(a: Observed, b: Observed) -> None:
    assert a.rows == b.rows and a.new_columns == b.new_columns
    for name in a.columns:
        ca, cb = a.columns[name], b.columns[name]
        assert np.array_equal(ca.cells, cb.cells)
        assert (ca.rows, ca.nulls, ca.invalid, ca.finite, ca.lo, ca.hi, ca.unseen, ca.types) == \
               (cb.rows, cb.nulls, cb.invalid, cb.finite, cb.lo, cb.hi, cb.unseen, cb.types)
        for attr in ("total", "total_sq", "below", "above"):   # float sums agree up to rounding
            assert np.isclose(getattr(ca, attr), getattr(cb, attr), rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, rows, rows)
def test_merge_is_associative_and_order_free(a, b, c):
    A, B, C = counts(a), counts(b), counts(c)
    same(A.merge(B).merge(C), A.merge(B.merge(C)))
    same(A.merge(B), B.merge(A))
    same(A.merge(B).merge(C), C.merge(A).merge(B))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.integers(0, 40))
def test_counts_of_parts_equal_counts_of_the_whole(part, cut):
    cut = min(cut, len(part))
    same(counts(part[:cut]).merge(counts(part[cut:])), counts(part))


@settings(max_examples=80, deadline=None)
@given(rows)
def test_every_value_lands_in_exactly_one_cell(part):
    obs = counts(part)
    x = obs.columns["x"]
    nan_or_null = sum(v is None or v != v for v, _ in part)
    assert x.cells.sum() + x.nulls + x.invalid == len(part)
    assert x.nulls == nan_or_null
    assert x.cells[0] >= sum(v == -np.inf for v, _ in part if v is not None)
    assert x.cells[-1] >= sum(v == np.inf for v, _ in part if v is not None)
    k = obs.columns["k"]
    assert k.cells.sum() + k.nulls == len(part)


def test_observed_round_trips_through_json():
    obs = counts([(1.0, "a"), (np.inf, "zz"), (None, None), (float("nan"), "d")])
    import json
    back = Observed.from_dict(json.loads(json.dumps(obs.to_dict())))
    same(obs, back)
    assert back.columns["k"].unseen == {"d": 1, "zz": 1}


def test_cells_place_values_on_and_between_grid_points():
    layout = NumericLayout(np.array([1.0, 2.0, 4.0]), (), True, 0.0)
    x = np.array([-np.inf, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, np.inf])
    assert layout.cells(x).tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 6]

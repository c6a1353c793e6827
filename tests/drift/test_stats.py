"""Each statistic against scipy on cases where scipy computes the exact value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from scipy.spatial.distance import jensenshannon

from shared.drift import DriftConfig, build_profile, compare
from shared.drift.layout import NumericLayout
from shared.drift.stats import (
    benjamini_hochberg,
    chi2_from_counts,
    js_distance,
    ks_from_cells,
    psi,
    two_proportion_z,
    wasserstein_from_cells,
)


def cells_of(grid: np.ndarray, x: np.ndarray) -> np.ndarray:
    layout = NumericLayout(grid, (), True, 0.0)
    return np.bincount(layout.cells(x), minlength=layout.n_cells)


@pytest.mark.parametrize("seed", range(5))
def test_ks_matches_scipy_when_grid_is_exact(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rng.integers(20, 800))
    b = rng.normal(rng.uniform(-0.5, 0.5), rng.uniform(0.5, 2), size=rng.integers(20, 2000))
    grid = np.unique(a)
    got = ks_from_cells(cells_of(grid, a), cells_of(grid, b))
    want = st.ks_2samp(a, b, method="asymp")
    assert got.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)


def test_ks_with_ties_and_values_off_the_grid():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 30, 500).astype(float)
    b = rng.integers(5, 40, 700) + rng.choice([0.0, 0.5], 700)   # half the values fall between grid points
    got = ks_from_cells(cells_of(np.unique(a), a), cells_of(np.unique(a), b))
    want = st.ks_2samp(a, b, method="asymp")
    assert got.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)


def test_ks_end_to_end_through_profile_matches_scipy():
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=600)})
    cur = pd.DataFrame({"x": rng.normal(0.2, 1.1, size=900)})
    result = compare(build_profile(ref), cur)
    col = result.columns[0]
    want = st.ks_2samp(ref.x, cur.x, method="asymp")
    assert col.test == "ks"
    assert col.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert col.p_value == pytest.approx(want.pvalue, rel=1e-9)
    w = st.wasserstein_distance(ref.x, cur.x)
    assert col.metrics["wasserstein"] == pytest.approx(w, rel=0.05)     # current values lie between grid points
    assert col.metrics["wasserstein_norm"] == pytest.approx(w / ref.x.std(ddof=0), rel=0.05)


def test_ks_p_value_at_large_n_and_tiny_p_uses_the_limit_distribution():
    from shared.drift.stats import TINY_P
    d, n = 0.02, 400_000
    ref = np.zeros(3, dtype=np.int64)
    ref[1] = n
    cur = np.array([int(n * d), n - int(n * d), 0])
    got = ks_from_cells(ref, cur)
    assert got.statistic == pytest.approx(d)
    assert got.p_value < TINY_P
    assert got.p_value == pytest.approx(st.kstwo.sf(d, n / 2), rel=0.05)


def test_wasserstein_exact_when_values_are_on_the_grid():
    rng = np.random.default_rng(11)
    a = rng.integers(0, 20, 300).astype(float)
    b = rng.integers(3, 25, 400).astype(float)
    b = b[np.isin(b, a)]
    grid = np.unique(a)
    got = wasserstein_from_cells(grid, cells_of(grid, a), cells_of(grid, b), a.min(), a.max())
    assert got == pytest.approx(st.wasserstein_distance(a, b), rel=1e-12)


def test_wasserstein_beyond_the_reference_range_is_exact_in_the_tails():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 10, 1000).astype(float)
    b = np.concatenate([rng.integers(0, 10, 500), rng.normal(30, 5, 300), rng.normal(-20, 3, 200)])
    grid = np.unique(a)
    tails = (0.0, 0.0, float(np.sum(grid[0] - b[b < grid[0]])), float(np.sum(b[b > grid[-1]] - grid[-1])))
    got = wasserstein_from_cells(grid, cells_of(grid, a), cells_of(grid, b), b.min(), b.max(), tails)
    assert got == pytest.approx(st.wasserstein_distance(a, b), rel=1e-9)
    result = compare(build_profile(pd.DataFrame({"x": a}), config=DriftConfig(categorical_max_distinct=5)),
                     pd.DataFrame({"x": b}))
    assert result.columns[0].metrics["wasserstein"] == pytest.approx(st.wasserstein_distance(a, b), rel=1e-9)


@pytest.mark.parametrize("ref,cur", [
    ([50, 30, 20], [40, 40, 20]),
    ([100, 0, 5], [90, 10, 5]),          # category unseen in the reference
    ([30, 70], [45, 55]),                # dof == 1: Yates' correction
    ([10, 20, 30, 0], [12, 18, 33, 0]),  # empty on both sides is dropped
])
def test_chi2_matches_chi2_contingency(ref, cur):
    ref, cur = np.array(ref), np.array(cur)
    got = chi2_from_counts(ref, cur)
    keep = (ref + cur) > 0
    want = st.chi2_contingency(np.vstack([ref[keep], cur[keep]]))
    assert got.statistic == pytest.approx(want.statistic, rel=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)


@pytest.mark.parametrize("x1,n1,x2,n2", [(10, 1000, 30, 1000), (0, 500, 4, 800), (50, 100, 50, 100)])
def test_two_proportion_z_matches_chi2_without_correction(x1, n1, x2, n2):
    got = two_proportion_z(x1, n1, x2, n2)
    want = st.chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False)
    assert got.statistic ** 2 == pytest.approx(want.statistic, rel=1e-9, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_js_distance_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 50, 12)
    q = rng.integers(0, 50, 12)
    p[0] = 0                                        # a zero on one side
    assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    assert js_distance(p, p) == pytest.approx(0.0, abs=1e-7)
    assert js_distance(np.array([5, 0]), np.array([0, 5])) == pytest.approx(1.0)


def test_psi_formula_smoothing_and_symmetry():
    ref, cur = np.array([25, 25, 25, 25]), np.array([10, 20, 30, 40])
    p, q = ref / 100, cur / 100
    assert psi(ref, cur) == pytest.approx(np.sum((q - p) * np.log(q / p)), rel=1e-12)
    assert psi(ref, cur) == pytest.approx(psi(cur, ref), rel=1e-12)
    assert psi(ref, ref) == 0.0
    eps = 1e-4
    smoothed = psi(np.array([100, 0]), np.array([50, 50]), eps)
    p = np.array([1.0, eps]) / (1 + eps)
    assert smoothed == pytest.approx(np.sum((np.array([0.5, 0.5]) - p) * np.log(np.array([0.5, 0.5]) / p)))


@pytest.mark.parametrize("seed", range(5))
def test_benjamini_hochberg_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.random(20), rng.random(5) * 1e-4, [1.0, 0.0]])
    np.testing.assert_allclose(benjamini_hochberg(p), st.false_discovery_control(p, method="bh"), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 60, 140, 141, 500, 5_000, 90_909, 100_000, 100_001, 2_000_000])
def test_kstwo_sf_matches_scipy_on_every_branch(n):
    """The production path avoids importing scipy.stats; its KS distribution must still be scipy's."""
    from shared.drift.stats import kstwo_sf
    zs = np.linspace(0.02, 7, 120) if n <= 1000 else [0.05, 0.3, 0.6, 1.0, 1.45, 1.5, 2.5, 4.0, 5.5, 7.0]
    for z in [*zs, 19.3, 25.0]:                       # (scipy's smirnov takes ~0.1 s per call at large n)
        d = z / np.sqrt(n)
        if d >= 1:
            continue
        want = st.kstwo.sf(d, n)
        assert kstwo_sf(d, n) == pytest.approx(want, rel=1e-9, abs=1e-300), (n, d)


def test_null_share_and_chi2_p_values_in_the_far_tail():
    got = two_proportion_z(0, 400_000, 4_000, 400_000)
    want = st.chi2_contingency([[0, 400_000], [4_000, 396_000]], correction=False)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    ref, cur = np.array([100_000, 1, 5]), np.array([90_000, 10_000, 5])
    assert chi2_from_counts(ref, cur).p_value == pytest.approx(st.chi2_contingency(np.vstack([ref, cur])).pvalue,
                                                               rel=1e-9)

"""From reference and current counts to a drift decision per column and for the dataset.

Each tested column contributes two p-values to one family (its distribution
test - KS for numeric, chi-square for categorical - and its null-share
z-test). The family is corrected with Benjamini-Hochberg, and a column drifts
only when a corrected p-value is below the FDR level *and* the matching
effect size reaches its floor: significance alone is cheap at large n.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from .config import DriftConfig
from .counts import ColumnCounts, Observed
from .layout import CategoricalLayout, ColumnLayout, NumericLayout
from .profile import Profile
from .results import ColumnResult, DriftResult
from .stats import (
    TestResult,
    benjamini_hochberg,
    chi2_from_counts,
    js_distance,
    ks_from_cells,
    psi,
    two_proportion_z,
    wasserstein_from_cells,
)

CHART_BINS = 20
CHART_CATEGORIES = 15


def decide(profile: Profile, observed: Observed, config: DriftConfig | None = None,
           source_name: str | None = None) -> DriftResult:
    """Drift verdict for ``observed`` (counts of the current data on ``profile``'s bins)."""
    cfg = config or DriftConfig()
    if observed.profile_id != profile.id:
        raise ValueError(f"counts were made on profile {observed.profile_id}, not {profile.id}")
    results: list[ColumnResult] = []
    family: list[tuple[ColumnResult, str, float]] = []   # (result, "dist" | "null", p-value)
    for layout in profile.columns.values():
        results.append(_column(layout, profile, observed, cfg, family))
    adjusted = benjamini_hochberg(np.array([p for _, _, p in family]))
    for (res, which, _), p_adj in zip(family, adjusted):
        setattr(res, "p_adjusted" if which == "dist" else "null_p_adjusted", float(p_adj))
    for res in results:
        if res.tested:
            _verdict(res, cfg.fdr)
    return _dataset(profile, observed, results, cfg, source_name)


def _column(layout: ColumnLayout, profile: Profile, observed: Observed, cfg: DriftConfig,
            family: list[tuple[ColumnResult, str, float]]) -> ColumnResult:
    ref, cur = profile.reference.columns[layout.name], observed.columns[layout.name]
    effect_name, threshold, null_delta, ignored = cfg.for_column(layout.name, layout.kind)
    res = ColumnResult(layout.name, layout.kind, tested=False, drifted=False, reason="",
                       rows_reference=ref.rows, rows_current=cur.rows,
                       key_feature=layout.name in cfg.key_features)
    res.findings = _findings(layout, ref, cur, observed, cfg)
    if ignored:
        res.reason = "ignored by configuration"
        return res
    if observed.rows == 0:
        res.reason = "not tested: the current data has no rows"
        return res
    if cur.rows == 0:
        res.reason = "not tested: column missing from the current data"
        return res
    res.tested = True
    res.null_share_reference = ref.nulls / ref.rows if ref.rows else 0.0
    res.null_share_current = cur.nulls / cur.rows
    res.null_share_threshold = null_delta
    null_test = two_proportion_z(ref.nulls, ref.rows, cur.nulls, cur.rows)
    res.null_p_value = null_test.p_value
    family.append((res, "null", null_test.p_value))
    if ref.present == 0 or cur.present == 0:
        res.metrics = {}
        res.reason = "distribution not tested: no values on one side"
        return res
    test, metrics = _distribution(layout, ref, cur, cfg)
    res.test = "ks" if isinstance(layout.bins, NumericLayout) else "chi2"
    res.statistic, res.p_value = test.statistic, test.p_value
    res.metrics = metrics
    res.effect_name, res.effect, res.threshold = effect_name, metrics[effect_name], threshold
    res.chart = _chart(layout, profile, ref, cur)
    family.append((res, "dist", test.p_value))
    return res


def _distribution(layout: ColumnLayout, ref: ColumnCounts, cur: ColumnCounts,
                  cfg: DriftConfig) -> tuple[TestResult, dict[str, float | None]]:
    bins = layout.bins
    if isinstance(bins, NumericLayout):
        test = ks_from_cells(ref.cells, cur.cells)
        ref_bins, cur_bins = bins.bin_counts(ref.cells), bins.bin_counts(cur.cells)
        _, ref_std = ref.mean_std(bins.shift)
        cur_mean, cur_std = cur.mean_std(bins.shift)
        w = wasserstein_from_cells(bins.grid, ref.cells, cur.cells, min(ref.lo, cur.lo), max(ref.hi, cur.hi),
                                         (ref.below, ref.above, cur.below, cur.above))
        w_norm = w / ref_std if ref_std else (0.0 if w == 0 else float("inf"))
        metrics = {"ks_d": test.statistic, "wasserstein": w, "wasserstein_norm": w_norm,
                   "psi": psi(ref_bins, cur_bins, cfg.psi_epsilon), "js": js_distance(ref_bins, cur_bins),
                   "out_of_range_share": float(cur.cells[0] + cur.cells[-1]) / cur.present,
                   "mean_current": cur_mean, "std_current": cur_std}
    else:
        test = chi2_from_counts(ref.cells, cur.cells)
        metrics = {"chi2": test.statistic, "psi": psi(ref.cells, cur.cells, cfg.psi_epsilon),
                   "js": js_distance(ref.cells, cur.cells),
                   "outside_reference_share": float(cur.cells[-1]) / cur.present}
    return test, metrics


def _verdict(res: ColumnResult, fdr: float) -> None:
    parts, drifted = [], False
    if res.p_adjusted is not None and res.effect is not None and res.threshold is not None:
        sig = res.p_adjusted < fdr
        big = res.effect >= res.threshold
        drifted = sig and big
        p_txt = f"p_adj={_g(res.p_adjusted)} {'<' if sig else '>='} {_g(fdr)}"
        e_txt = f"{res.effect_name}={_g(res.effect)} {'>=' if big else '<'} {_g(res.threshold)}"
        parts.append(f"{p_txt} and {e_txt}" if drifted else
                     (f"{p_txt} but {e_txt}" if sig else p_txt))
    elif res.reason:
        parts.append(res.reason)
    ref_share, cur_share = res.null_share_reference, res.null_share_current
    floor, null_p_adj = res.null_share_threshold, res.null_p_adjusted
    if ref_share is not None and cur_share is not None and floor is not None and null_p_adj is not None:
        delta = abs(cur_share - ref_share)
        null_sig = null_p_adj < fdr
        if null_sig and delta >= floor:
            drifted = True
            parts.append(f"null share {_g(ref_share)} -> {_g(cur_share)}: p_adj={_g(null_p_adj)} < {_g(fdr)} "
                         f"and change {_g(delta)} >= {_g(floor)}")
        elif null_sig and delta > 0:
            parts.append(f"null share change {_g(delta)} < {_g(floor)}")
    res.drifted = drifted
    res.reason = "; ".join(parts)


def _g(x: float) -> str:
    return f"{x:.3g}"


def _findings(layout: ColumnLayout, ref: ColumnCounts, cur: ColumnCounts, observed: Observed,
              cfg: DriftConfig) -> list[dict[str, Any]]:
    name, out = layout.name, []

    def add(code: str, message: str, **extra: Any) -> None:
        out.append({"code": code, "column": name, "message": message, **extra})

    if observed.rows and cur.rows == 0:
        add("missing_column", f"{name} is missing from the current data")
        return out
    if cur.rows and cur.rows < observed.rows:
        add("partly_missing_column", f"{name} is missing from {observed.rows - cur.rows} of {observed.rows} rows")
    changed = (cur.types - {"null"}) - (ref.types - {"null"})
    if changed and ref.types - {"null"}:
        add("type_change", f"{name}: reference type {layout.dtype} ({', '.join(sorted(ref.types - {'null'}))}), "
                           f"current data has {', '.join(sorted(changed))} values", current_types=sorted(changed))
    if cur.invalid:
        eg = ", ".join(repr(e) for e in cur.invalid_examples)
        add("invalid_values", f"{name}: {cur.invalid} values could not be read as {layout.kind}"
                              + (f" (e.g. {eg})" if eg else ""), count=cur.invalid)
    if cur.rows and cur.present == 0 and cur.invalid == 0:
        add("all_null", f"{name}: every current value is missing")
    if isinstance(layout.bins, CategoricalLayout) and layout.bins.complete and cur.cells[-1]:
        share = cur.cells[-1] / max(cur.present, 1)
        eg = ", ".join(repr(k) for k in list(cur.unseen)[:5])
        add("unseen_categories", f"{name}: {int(cur.cells[-1])} values ({share:.1%}) are categories never seen in "
                                 f"the reference (e.g. {eg})", count=int(cur.cells[-1]), examples=list(cur.unseen))
    if isinstance(layout.bins, NumericLayout) and cur.present:
        share = (cur.cells[0] + cur.cells[-1]) / cur.present
        if share > cfg.out_of_range_finding:
            add("out_of_range", f"{name}: {share:.1%} of values are outside the reference range "
                                f"[{_g(layout.bins.grid[0])}, {_g(layout.bins.grid[-1])}]", share=float(share))
        infinite = cur.present - cur.finite
        if infinite:
            add("infinite_values", f"{name}: {infinite} values are infinite", count=int(infinite))
    return out


def _dataset(profile: Profile, observed: Observed, results: list[ColumnResult], cfg: DriftConfig,
             source_name: str | None) -> DriftResult:
    tested = [r for r in results if r.tested]
    drifted = [r for r in tested if r.drifted]
    share = len(drifted) / len(tested) if tested else 0.0
    keys = [r.name for r in drifted if r.key_feature]
    findings: list[dict[str, Any]] = []
    if observed.rows == 0:
        findings.append({"code": "no_rows", "message": "the current data has no rows"})
    missing = [r.name for r in results if any(f["code"] == "missing_column" for f in r.findings)]
    if missing:
        findings.append({"code": "missing_columns", "columns": missing,
                         "message": f"{len(missing)} reference columns are missing: {', '.join(missing)}"})
    if observed.new_columns:
        new = sorted(observed.new_columns)
        findings.append({"code": "new_columns", "columns": new,
                         "message": f"{len(new)} columns not in the reference: {', '.join(new)}"})
    if observed.malformed_rows:
        findings.append({"code": "malformed_rows", "count": observed.malformed_rows,
                         "message": f"{observed.malformed_rows} malformed rows were skipped"})
    missing_keys = [k for k in cfg.key_features if k not in profile.columns]
    if missing_keys:
        findings.append({"code": "unknown_key_features", "columns": missing_keys,
                         "message": f"key features not in the profile: {', '.join(missing_keys)}"})
    by_share = share >= cfg.drift_share and bool(tested)
    verdict = by_share or bool(keys)
    summary = f"{len(drifted)} of {len(tested)} tested columns drifted ({share:.0%} {'>=' if by_share else '<'} " \
              f"{cfg.drift_share:.0%})"
    if keys:
        summary += f"; key feature{'s' if len(keys) > 1 else ''} drifted: {', '.join(keys)}"
    return DriftResult(verdict, share, summary, results, profile.reference.rows, observed.rows, profile.id,
                       profile.name, source_name, cfg, findings,
                       datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _chart(layout: ColumnLayout, profile: Profile, ref: ColumnCounts, cur: ColumnCounts) -> dict[str, Any]:
    """Reference vs current shares on a few display bins (size independent of rows)."""
    bins = layout.bins
    if isinstance(bins, NumericLayout):
        q = profile.summaries[layout.name].get("quantiles", {})
        lo, hi = q.get("p1"), q.get("p99")
        if lo is None or hi is None or not hi > lo:
            lo, hi = float(bins.grid[0]), float(bins.grid[-1])
        if not hi > lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, CHART_BINS + 1)
        g = bins.grid
        # location of each cell: grid points for "equal" cells, midpoints for "between" cells
        between = np.concatenate([[-np.inf], (g[:-1] + g[1:]) / 2, [np.inf]])
        where = np.empty(bins.n_cells)
        where[0::2], where[1::2] = between, g
        idx = np.searchsorted(edges, where, side="right")      # 0 = below lo, CHART_BINS+1 = above hi
        idx[where == hi] = CHART_BINS
        ref_b = np.bincount(idx, weights=ref.cells, minlength=CHART_BINS + 2)
        cur_b = np.bincount(idx, weights=cur.cells, minlength=CHART_BINS + 2)
        return {"type": "numeric", "edges": edges.tolist(),
                "reference": (ref_b / max(ref_b.sum(), 1)).tolist(),
                "current": (cur_b / max(cur_b.sum(), 1)).tolist()}
    labels = list(bins.categories) + ["(unseen)" if bins.complete else "(other)"]
    r, c = ref.cells / max(ref.cells.sum(), 1), cur.cells / max(cur.cells.sum(), 1)
    order = np.argsort(-np.maximum(r, c), kind="stable")
    top, rest = order[:CHART_CATEGORIES], order[CHART_CATEGORIES:]
    labels_out = [labels[i] for i in top]
    r_out, c_out = r[top].tolist(), c[top].tolist()
    if len(rest):
        labels_out.append(f"({len(rest)} more)")
        r_out.append(float(r[rest].sum()))
        c_out.append(float(c[rest].sum()))
    return {"type": "categorical", "labels": labels_out, "reference": r_out, "current": c_out}

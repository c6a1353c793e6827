"""Counting data into a profile's fixed bins; counts of partitions merge exactly.

``Observed`` is what one pass over some data (the reference, the current
upload, or any partition of it) leaves behind. Its merge is exact, associative
and order-free for everything the decision uses: cell counts, null/invalid
counts, finite min/max, unseen-category totals, and the *smallest* unseen names
and invalid examples (the k smallest keys of a union are the k smallest of the
parts' k smallest keys, so capping them stays exact). Only the display
moments (sum, sum of squares) are float sums and agree up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .convert import family, number_name, numpy_view, to_float, to_strings, valid_mask
from .layout import CategoricalLayout, ColumnLayout, NumericLayout

UNSEEN_NAMES_KEPT = 20
INVALID_EXAMPLES_KEPT = 3


def _smallest(d: Mapping[str, int], k: int) -> dict[str, int]:
    return {key: d[key] for key in sorted(d)[:k]}


@dataclass
class ColumnCounts:
    cells: np.ndarray
    rows: int = 0             # rows of batches that had this column
    nulls: int = 0            # null or NaN
    invalid: int = 0          # values that could not be read for the column's kind
    finite: int = 0
    total: float = 0.0        # sum of (x - shift) over finite values
    total_sq: float = 0.0     # sum of (x - shift)^2 over finite values
    lo: float = float("inf")  # finite min
    hi: float = float("-inf")  # finite max
    below: float = 0.0        # sum of (g_0 - x) over finite x below the grid  (exact W1 in the tails)
    above: float = 0.0        # sum of (x - g_last) over finite x above the grid
    unseen: dict[str, int] = field(default_factory=dict)   # smallest unseen category names -> counts
    invalid_examples: list[str] = field(default_factory=list)
    types: set[str] = field(default_factory=set)           # Arrow type families seen

    @classmethod
    def empty(cls, layout: ColumnLayout) -> "ColumnCounts":
        return cls(cells=np.zeros(layout.bins.n_cells, dtype=np.int64))

    @property
    def present(self) -> int:
        """Non-missing, valid values (what the distribution tests see)."""
        return int(self.cells.sum())

    def merge(self, other: "ColumnCounts") -> "ColumnCounts":
        unseen = dict(self.unseen)
        for k, v in other.unseen.items():
            unseen[k] = unseen.get(k, 0) + v
        return ColumnCounts(
            cells=self.cells + other.cells, rows=self.rows + other.rows, nulls=self.nulls + other.nulls,
            invalid=self.invalid + other.invalid, finite=self.finite + other.finite,
            total=self.total + other.total, total_sq=self.total_sq + other.total_sq,
            lo=min(self.lo, other.lo), hi=max(self.hi, other.hi),
            below=self.below + other.below, above=self.above + other.above,
            unseen=_smallest(unseen, UNSEEN_NAMES_KEPT),
            invalid_examples=sorted(set(self.invalid_examples) | set(other.invalid_examples))[:INVALID_EXAMPLES_KEPT],
            types=self.types | other.types)

    def mean_std(self, shift: float) -> tuple[float | None, float | None]:
        if not self.finite:
            return None, None
        m = self.total / self.finite
        var = max(self.total_sq / self.finite - m * m, 0.0)
        return shift + m, float(np.sqrt(var))

    def to_dict(self) -> dict[str, Any]:
        return {"cells": self.cells.tolist(), "rows": self.rows, "nulls": self.nulls, "invalid": self.invalid,
                "finite": self.finite, "total": self.total, "total_sq": self.total_sq,
                "lo": _num(self.lo), "hi": _num(self.hi), "below": self.below, "above": self.above,
                "unseen": self.unseen,
                "invalid_examples": self.invalid_examples, "types": sorted(self.types)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ColumnCounts":
        return cls(cells=np.asarray(d["cells"], dtype=np.int64), rows=d["rows"], nulls=d["nulls"],
                   invalid=d["invalid"], finite=d["finite"], total=d["total"], total_sq=d["total_sq"],
                   lo=float("inf") if d["lo"] is None else d["lo"],
                   hi=float("-inf") if d["hi"] is None else d["hi"], below=d["below"], above=d["above"],
                   unseen=dict(d["unseen"]), invalid_examples=list(d["invalid_examples"]), types=set(d["types"]))


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass
class Observed:
    """Counts of one pass over some data on a profile's bins (mergeable)."""

    profile_id: str
    rows: int = 0
    columns: dict[str, ColumnCounts] = field(default_factory=dict)
    new_columns: set[str] = field(default_factory=set)
    malformed_rows: int = 0

    def merge(self, other: "Observed") -> "Observed":
        if other.profile_id != self.profile_id:
            raise ValueError("cannot merge counts made on different profiles "
                             f"({self.profile_id} vs {other.profile_id})")
        return Observed(self.profile_id, self.rows + other.rows,
                        {k: c.merge(other.columns[k]) for k, c in self.columns.items()},
                        self.new_columns | other.new_columns, self.malformed_rows + other.malformed_rows)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "driftline.observed/1", "profile_id": self.profile_id, "rows": self.rows,
                "malformed_rows": self.malformed_rows, "new_columns": sorted(self.new_columns),
                "columns": {k: c.to_dict() for k, c in self.columns.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Observed":
        if d.get("schema") != "driftline.observed/1":
            raise ValueError(f"not a driftline observed-counts document (schema {d.get('schema')!r})")
        return cls(d["profile_id"], d["rows"], {k: ColumnCounts.from_dict(c) for k, c in d["columns"].items()},
                   set(d["new_columns"]), d["malformed_rows"])


class Counter:
    """Accumulates RecordBatches into an ``Observed`` on fixed layouts."""

    def __init__(self, profile_id: str, layouts: Mapping[str, ColumnLayout]) -> None:
        self.layouts = layouts
        self.observed = Observed(profile_id, columns={k: ColumnCounts.empty(v) for k, v in layouts.items()})

    def add(self, batch: Any) -> None:
        obs = self.observed
        obs.rows += batch.num_rows
        names = batch.schema.names
        obs.new_columns.update(n for n in names if n not in self.layouts)
        for i, name in enumerate(names):
            layout = self.layouts.get(name)
            if layout is not None:
                self._add_column(obs.columns[name], layout, batch.column(i))

    @staticmethod
    def _add_column(counts: ColumnCounts, layout: ColumnLayout, arr: Any) -> None:
        counts.rows += len(arr)
        counts.types.add(family(arr.type))
        bins = layout.bins
        if isinstance(bins, NumericLayout):
            x, missing, invalid, examples = to_float(arr)
            _count_numeric(counts, bins, x)
        elif bins.values is not None:
            x, missing, invalid, examples = to_float(arr)
            _count_number_categories(counts, bins.values, bins.complete, x)
        else:
            strings, invalid, examples = to_strings(arr)
            missing = strings.null_count - invalid
            _count_string_categories(counts, bins, strings)
        counts.nulls += missing
        counts.invalid += invalid
        if examples:
            counts.invalid_examples = sorted(set(counts.invalid_examples) | set(examples))[:INVALID_EXAMPLES_KEPT]


def _count_numeric(counts: ColumnCounts, bins: NumericLayout, x: np.ndarray) -> None:
    if not len(x):
        return
    counts.cells += np.bincount(bins.cells(x), minlength=bins.n_cells)
    lo, hi = x.min(), x.max()
    if np.isinf(lo) or np.isinf(hi):
        x = x[np.isfinite(x)]
        if not len(x):
            return
        lo, hi = x.min(), x.max()
    d = x - bins.shift
    counts.finite += len(x)
    counts.total += float(d.sum())
    counts.total_sq += float(np.einsum("i,i->", d, d))   # not np.dot: BLAS threads cost more than they save here
    counts.lo, counts.hi = min(counts.lo, float(lo)), max(counts.hi, float(hi))
    if len(bins.grid):
        if lo < bins.grid[0]:
            counts.below += float(np.sum(bins.grid[0] - x[x < bins.grid[0]]))
        if hi > bins.grid[-1]:
            counts.above += float(np.sum(x[x > bins.grid[-1]] - bins.grid[-1]))


def _count_number_categories(counts: ColumnCounts, values: np.ndarray, complete: bool, x: np.ndarray) -> None:
    """Counts on the sorted category ``values`` of a numeric categorical column (last cell: other values)."""
    if not len(x):
        return
    idx = np.searchsorted(values, x)
    match = idx < len(values)
    match[match] = values[idx[match]] == x[match]
    counts.cells += np.bincount(np.where(match, idx, len(values)), minlength=len(values) + 1)
    if complete and not match.all():
        names, n = np.unique(x[~match], return_counts=True)
        _add_unseen(counts, {number_name(v): int(c) for v, c in zip(names, n)})


def _count_string_categories(counts: ColumnCounts, bins: CategoricalLayout, strings: Any) -> None:
    import pyarrow.compute as pc

    if strings.null_count == len(strings):
        return
    idx = pc.index_in(strings, value_set=bins.value_set)   # int32; null for nulls and other values
    k = len(bins.categories)
    codes = numpy_view(idx, np.int32)
    if idx.null_count:
        codes = np.where(valid_mask(idx), codes, k)
    cells = np.bincount(codes, minlength=bins.n_cells)
    cells[k] -= strings.null_count
    counts.cells += cells
    if bins.complete and cells[k]:
        outside = strings.filter(pc.and_(pc.is_null(idx), pc.is_valid(strings)))
        vc = pc.value_counts(outside)
        _add_unseen(counts, dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist())))


def _add_unseen(counts: ColumnCounts, found: Mapping[str, int]) -> None:
    merged = dict(counts.unseen)
    for k, v in found.items():
        merged[k] = merged.get(k, 0) + v
    counts.unseen = _smallest(merged, UNSEEN_NAMES_KEPT)

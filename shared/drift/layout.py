"""The fixed bins a reference profile defines and every count is made on.

Because the reference fixes the bins, counts of any partition of the current
data can be added together exactly (see ``counts.Observed.merge``).

Numeric columns use a sorted grid g_0 < ... < g_{K-1} of reference values and
count into 2K+1 *cells*: below g_0, equal to g_0, strictly between g_0 and g_1,
equal to g_1, ..., above g_{K-1}. The cumulative cell counts give both CDFs at
every point where the KS supremum can occur, so when the grid holds every
distinct reference value the KS statistic is exact (the reference CDF is flat
between grid points and the current CDF is monotone there). The PSI/JS bins
are unions of cells: bin edges are grid points near reference quantiles, with
open first (-inf) and last (+inf) bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .convert import number_name


@dataclass(frozen=True)
class NumericLayout:
    grid: np.ndarray          # sorted unique finite reference values (K <= ks_grid)
    cuts: tuple[int, ...]     # grid indices where PSI bins start: bin j is [g[cuts[j-1]], g[cuts[j]])
    exact: bool               # grid holds every distinct reference value (KS exact)
    shift: float              # reference mean, subtracted before summing squares (numerical stability)

    @property
    def n_cells(self) -> int:
        return 2 * len(self.grid) + 1

    def cells(self, x: np.ndarray) -> np.ndarray:
        """Cell index of each value: 2*i+1 when x == g_i, 2*i when g_{i-1} < x < g_i."""
        grid = self.grid
        if not len(grid):
            return np.zeros(len(x), dtype=np.int64)
        right = self._count_le(x)
        return 2 * right - (self._left_of[right] == x)

    @cached_property
    def _left_of(self) -> np.ndarray:
        """Grid point just below cell boundary i (NaN before g_0: equal to nothing)."""
        return np.concatenate([[np.nan], self.grid])

    @cached_property
    def _lookup(self) -> tuple[np.ndarray, np.ndarray, float, float, int] | None:
        """Uniform buckets over the grid's range -> first grid index, for a branch-free search.

        A binary search per value (np.searchsorted) costs ~10 unpredictable
        branches; with buckets the search is a multiply, a gather and a few
        vectorised steps. Used only when no bucket holds more than 4 grid points.
        """
        grid = self.grid
        if len(grid) < 2:
            return None
        n_buckets = 8 * len(grid)
        lo, hi = float(grid[0]), float(grid[-1])
        scale = n_buckets / (hi - lo)
        starts = lo + np.arange(n_buckets) / scale
        first = np.searchsorted(grid, starts, side="left")
        steps = int(np.max(np.diff(np.append(first, len(grid)))))
        if steps > 4 or not np.isfinite(scale):
            return None
        padded = np.concatenate([grid, np.full(steps + 1, np.inf)])
        return first, padded, lo, scale, steps

    def _count_le(self, x: np.ndarray) -> np.ndarray:
        """Number of grid points <= x (np.searchsorted(grid, x, 'right'))."""
        lookup = self._lookup
        if lookup is None:
            return np.searchsorted(self.grid, x, side="right")
        first, padded, lo, scale, steps = lookup
        bucket = np.clip((x - lo) * scale, 0, len(first) - 1).astype(np.intp)
        right = first[bucket]
        for _ in range(steps):
            right += padded[right] <= x
        return np.minimum(right, len(self.grid))

    def bin_counts(self, cells: np.ndarray) -> np.ndarray:
        """Cell counts summed into the PSI bins (first and last bins open-ended)."""
        starts = [0] + [2 * c + 1 for c in self.cuts]
        return np.add.reduceat(cells, starts)

    def to_dict(self) -> dict[str, Any]:
        return {"grid": self.grid.tolist(), "cuts": list(self.cuts), "exact": self.exact, "shift": self.shift}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NumericLayout":
        return cls(np.asarray(d["grid"], dtype=float), tuple(int(c) for c in d["cuts"]), bool(d["exact"]),
                   float(d["shift"]))


@dataclass(frozen=True)
class CategoricalLayout:
    categories: tuple[str, ...]     # named categories (top-K of the reference)
    values: np.ndarray | None       # sorted float values when the column is numeric with few values
    complete: bool                  # the reference had no value outside `categories`

    @property
    def n_cells(self) -> int:
        return len(self.categories) + 1   # last cell: values outside `categories`

    @cached_property
    def value_set(self) -> Any:
        """The categories as an Arrow string array (for ``pyarrow.compute.index_in``)."""
        from .convert import string_array

        return string_array(self.categories)

    def to_dict(self) -> dict[str, Any]:
        return {"categories": list(self.categories),
                "values": None if self.values is None else self.values.tolist(),
                "complete": self.complete}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CategoricalLayout":
        values = None if d.get("values") is None else np.asarray(d["values"], dtype=float)
        return cls(tuple(d["categories"]), values, bool(d["complete"]))

    @classmethod
    def from_values(cls, values: np.ndarray, complete: bool) -> "CategoricalLayout":
        values = np.sort(np.asarray(values, dtype=float))
        return cls(tuple(number_name(v) for v in values), values, complete)


@dataclass(frozen=True)
class ColumnLayout:
    name: str
    kind: str                 # "numeric" | "categorical"
    dtype: str                # Arrow type of the reference column
    bins: NumericLayout | CategoricalLayout

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dtype": self.dtype, **self.bins.to_dict()}

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> "ColumnLayout":
        bins = NumericLayout.from_dict(d) if d["kind"] == "numeric" else CategoricalLayout.from_dict(d)
        return cls(name, d["kind"], d["dtype"], bins)

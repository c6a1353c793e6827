"""Reference profile: built once from the training data, stored as compact JSON.

Building makes two passes over the reference:

1. a scan decides each column's kind and bins: a bounded reservoir sample of
   numeric values (exact when the column has no more values than the sample
   size) gives the KS grid and the PSI quantile edges; bounded category
   counts give the top-K categories;
2. the reference is counted into those fixed bins with the very code that
   counts current data (``counts.Counter``), so both sides are binned alike.

A reference whose batches take at most ``KEEP_REFERENCE_BYTES`` of Arrow
memory is read once: the scan keeps its batches and the count uses them.
A larger one is read again (one-shot inputs are spooled to a temporary file,
not memory), so memory stays bounded whatever the size.

The JSON size depends on the number of columns and settings, never on rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np

from .config import KINDS, DriftConfig
from .convert import family, number_name, to_float, to_strings
from .counts import Counter, Observed
from .errors import UnreadableData
from .layout import CategoricalLayout, ColumnLayout, NumericLayout

SCHEMA = "driftline.profile/1"
MAX_TRACKED_CATEGORIES = 10_000   # distinct values counted while scanning; more make a column high-cardinality
MAX_NUMERIC_DISTINCT = 1000        # a numeric column with more distinct values is never categorical
SUMMARY_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
KEEP_REFERENCE_BYTES = 256 << 20   # a reference up to this much Arrow memory is parsed once, not twice


@dataclass
class Profile:
    """Reference bins, the reference's counts on them, and a summary per column."""

    columns: dict[str, ColumnLayout]
    reference: Observed
    summaries: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    name: str | None = None
    created_at: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.reference.profile_id

    def read_kinds(self) -> dict[str, str]:
        """How a CSV reader should type each column (numbers or strings)."""
        return {name: ("numeric" if c.kind == "numeric" or getattr(c.bins, "values", None) is not None
                       else "categorical") for name, c in self.columns.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "id": self.id, "name": self.name, "created_at": self.created_at,
            "settings": self.settings, "rows": self.reference.rows, "findings": self.findings,
            "columns": {name: {**layout.to_dict(), "summary": self.summaries[name],
                               "counts": self.reference.columns[name].to_dict()}
                        for name, layout in self.columns.items()},
            "malformed_rows": self.reference.malformed_rows,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "Profile":
        try:
            d = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"profile is not valid JSON: {exc}") from exc
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            found = d.get("schema") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"not a driftline profile: expected schema {SCHEMA!r}, found {found!r}")
        columns = {name: ColumnLayout.from_dict(name, c) for name, c in d["columns"].items()}
        reference = Observed.from_dict({
            "schema": "driftline.observed/1", "profile_id": d["id"], "rows": d["rows"],
            "malformed_rows": d.get("malformed_rows", 0), "new_columns": [],
            "columns": {name: c["counts"] for name, c in d["columns"].items()}})
        return cls(columns, reference, {n: c["summary"] for n, c in d["columns"].items()}, d["settings"],
                   d.get("name"), d.get("created_at", ""), d.get("findings", []))


def profile_id(columns: Mapping[str, ColumnLayout], settings: Mapping[str, Any], observed: Observed) -> str:
    """Content hash of the bins and reference counts (names the profile in reports)."""
    body = {"settings": settings, "columns": {k: v.to_dict() for k, v in columns.items()},
            "counts": {k: c.cells.tolist() for k, c in observed.columns.items()}, "rows": observed.rows}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


# --- pass 1: scan ----------------------------------------------------------------

class _Reservoir:
    """Uniform sample of at most ``size`` values (Algorithm R, vectorised per batch)."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng = size, rng
        self._filling: list[np.ndarray] = []   # copies of the first values, joined once (not per batch)
        self._values = np.empty(0)
        self.seen = 0

    @property
    def values(self) -> np.ndarray:
        if self._filling:
            self._values = np.concatenate([self._values, *self._filling])
            self._filling = []
        return self._values

    def add(self, x: np.ndarray) -> None:
        free = self.size - min(self.seen, self.size)
        if free > 0:
            self._filling.append(x[:free].copy())
            self.seen += min(free, len(x))
            x = x[free:]
        if not len(x):
            return
        values = self.values
        positions = self.seen + np.arange(1, len(x) + 1)
        keep = self.rng.random(len(x)) * positions < self.size
        slots = self.rng.integers(0, self.size, int(keep.sum()))
        values[slots] = x[keep]   # later values win, as in the sequential algorithm
        self.seen += len(x)

    def sorted_finite(self) -> np.ndarray:
        values = self.values
        return np.sort(values[np.isfinite(values)])


@dataclass
class _ColumnScan:
    reservoir: _Reservoir
    dtype: str | None = None
    families: set[str] = field(default_factory=set)
    non_missing: int = 0
    numeric_values: int = 0
    invalid: int = 0
    lo: float = np.inf
    hi: float = -np.inf
    categories: dict[Any, int] = field(default_factory=dict)
    overflow: bool = False              # more distinct values than MAX_TRACKED_CATEGORIES
    _sorted: np.ndarray | None = None

    def sorted_sample(self) -> np.ndarray:
        """The finite values of the reservoir, sorted (computed once, after the scan)."""
        if self._sorted is None:
            self._sorted = self.reservoir.sorted_finite()
        return self._sorted

    def add(self, arr: Any, forced: str | None) -> None:
        fam = family(arr.type)
        if fam != "null" and self.dtype is None:
            self.dtype = str(arr.type)
        self.families.add(fam)
        numeric_batch = fam in ("numeric", "temporal") or (
            fam == "string" and (forced == "numeric" or "numeric" in self.families))
        if numeric_batch:
            x, _, invalid, _ = to_float(arr)
            self.invalid += invalid
            self.numeric_values += len(x)
            self.non_missing += len(x) + invalid
            self.reservoir.add(x)
            finite = x[np.isfinite(x)]
            if len(finite):
                self.lo, self.hi = min(self.lo, finite.min()), max(self.hi, finite.max())
            if not self.overflow and len(x):
                if forced != "categorical" and len(np.unique(x[:4 * MAX_NUMERIC_DISTINCT])) > MAX_NUMERIC_DISTINCT:
                    self.overflow = True   # clearly continuous: no category counts needed
                else:
                    self._track(*np.unique(x, return_counts=True))
        elif fam != "null":
            strings, invalid, _ = to_strings(arr)
            self.invalid += invalid
            present = len(strings) - strings.null_count
            self.non_missing += present
            if not self.overflow and present:
                import pyarrow.compute as pc
                vc = pc.value_counts(strings.drop_null())
                self._track(vc.field("values").to_pylist(), vc.field("counts").to_pylist())

    def _track(self, keys: Any, counts: Any) -> None:
        cats = self.categories
        for k, c in zip(keys.tolist() if isinstance(keys, np.ndarray) else keys,
                        counts.tolist() if isinstance(counts, np.ndarray) else counts):
            if k in cats:
                cats[k] += c
            elif len(cats) < MAX_TRACKED_CATEGORIES:
                cats[k] = c
            else:
                self.overflow = True

    def kind(self, forced: str | None, max_distinct: int) -> str:
        if forced:
            return forced
        if "numeric" in self.families or "temporal" in self.families:
            numeric_share = self.numeric_values / max(self.non_missing, 1)
            if numeric_share >= 0.99 and (self.overflow or len(self.categories) > max_distinct):
                return "numeric"
        return "categorical"


def quantiles_of_sorted(a: np.ndarray, q: Any) -> np.ndarray:
    """``np.quantile(a, q)`` (its default "linear" method, same rounding) for a sorted,
    NaN-free ``a``: straight indexing, where np.quantile would partition ``a`` again."""
    pos = (len(a) - 1) * np.asarray(q, dtype=float)
    below = np.floor(pos).astype(np.intp)
    above = np.minimum(below + 1, len(a) - 1)
    t = pos - below
    lo, hi = a[below], a[above]
    diff = hi - lo
    return np.where(t >= 0.5, hi - diff * (1 - t), lo + diff * t)


def _numeric_layout(scan: _ColumnScan, cfg: DriftConfig) -> NumericLayout:
    finite = scan.sorted_sample()
    if not len(finite):
        return NumericLayout(np.empty(0), (), True, 0.0)
    distinct = finite[np.concatenate([[True], finite[1:] != finite[:-1]])]
    exact = scan.reservoir.seen <= scan.reservoir.size and len(distinct) <= cfg.ks_grid
    if exact:
        grid = distinct
    else:
        grid = np.unique(quantiles_of_sorted(finite, np.linspace(0.0, 1.0, cfg.ks_grid)))
        grid[0], grid[-1] = min(grid[0], scan.lo), max(grid[-1], scan.hi)   # grid spans the true range
    edges = quantiles_of_sorted(finite, np.arange(1, cfg.bins) / cfg.bins)
    starts = np.unique(np.searchsorted(grid, edges, side="left"))
    cuts = tuple(int(c) for c in starts if 0 < c < len(grid))
    return NumericLayout(grid, cuts, exact, float(finite.mean()))


def _categorical_layout(scan: _ColumnScan, cfg: DriftConfig) -> CategoricalLayout:
    ranked = sorted(scan.categories.items(), key=lambda kv: (-kv[1], str(kv[0])))
    top = ranked[:cfg.top_k]
    complete = not scan.overflow and len(ranked) <= cfg.top_k
    if top and all(isinstance(k, float) for k, _ in top):
        return CategoricalLayout.from_values(np.array([k for k, _ in top]), complete)
    return CategoricalLayout(tuple(number_name(k) if isinstance(k, float) else str(k) for k, _ in top),
                             None, complete)


def build(source: Any, *, name: str | None = None, schema: Mapping[str, str] | None = None,
          config: DriftConfig | None = None) -> Profile:
    """Profile of the reference data in ``source`` (see ``read.open_source`` for inputs)."""
    from .read import open_source

    cfg = config or DriftConfig()
    schema = dict(schema or {})
    for col, kind in schema.items():
        if kind not in KINDS and kind != "ignore":
            raise ValueError(f"schema for column {col!r} must be one of numeric, categorical, ignore; got {kind!r}")
    rng = np.random.default_rng(cfg.seed)
    with open_source(source, name=name, replayable=True) as src:
        scans: dict[str, _ColumnScan] = {}
        rows = 0
        kept: list[Any] | None = []   # the scan's batches, while they fit in KEEP_REFERENCE_BYTES
        kept_bytes = 0
        for batch in src.batches(kinds={k: v for k, v in schema.items() if v != "ignore"},
                                 block_size=cfg.batch_bytes):
            rows += batch.num_rows
            for col, arr in zip(batch.schema.names, batch.columns):
                if schema.get(col) == "ignore":
                    continue
                scan = scans.setdefault(col, _ColumnScan(_Reservoir(cfg.sample_size, rng)))
                scan.add(arr, schema.get(col))
            if kept is not None:
                kept.append(batch)
                kept_bytes += batch.nbytes
                if kept_bytes > KEEP_REFERENCE_BYTES:
                    kept = None
        malformed_rows = src.state.malformed_rows
        if rows == 0:
            raise UnreadableData(f"{src.name} has no data rows to profile")
        layouts, findings = {}, []
        for col, scan in scans.items():
            kind = scan.kind(schema.get(col), cfg.categorical_max_distinct)
            bins = _numeric_layout(scan, cfg) if kind == "numeric" else _categorical_layout(scan, cfg)
            layouts[col] = ColumnLayout(col, kind, scan.dtype or "null", bins)
            findings.extend(_scan_findings(col, scan, kind, cfg))
        kinds = {c: ("numeric" if lay.kind == "numeric" or getattr(lay.bins, "values", None) is not None
                     else "categorical") for c, lay in layouts.items()}
        counter = Counter("", layouts)
        if kept is not None and (src.format != "csv" or _typed_as(kept, kinds)):
            for batch in kept:
                counter.add(batch.select([c for c in batch.schema.names if c in layouts]))
            del kept
        else:   # too large to keep, or the CSV re-read would type some column differently
            kept = None
            for batch in src.batches(kinds=kinds, columns=list(layouts), block_size=cfg.batch_bytes):
                counter.add(batch)
            malformed_rows = src.state.malformed_rows
        observed = counter.observed
        observed.malformed_rows = malformed_rows
    settings = {k: getattr(cfg, k) for k in ("bins", "ks_grid", "top_k", "categorical_max_distinct",
                                               "sample_size", "seed")}
    observed.profile_id = profile_id(layouts, settings, observed)
    summaries = {c: _summary(layouts[c], scans[c], observed) for c in layouts}
    return Profile(layouts, observed, summaries, settings, name or src.name,
                   datetime.now(timezone.utc).isoformat(timespec="seconds"), findings)


def _typed_as(batches: list[Any], kinds: Mapping[str, str]) -> bool:
    """Would re-reading the CSV with ``kinds`` give the same values as ``batches``?

    The re-read parses numeric columns as float64 and the others as strings;
    integer or float columns convert to the same floats, anything else (null,
    bool, temporal, numbers inferred for a categorical column) might not.
    """
    import pyarrow as pa

    for batch in batches:
        for col, arr in zip(batch.schema.names, batch.columns):
            kind = kinds.get(col)
            if kind == "numeric" and not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
                return False
            if kind == "categorical" and not pa.types.is_string(arr.type):
                return False
    return True


def _summary(layout: ColumnLayout, scan: _ColumnScan, observed: Observed) -> dict[str, Any]:
    counts = observed.columns[layout.name]
    out: dict[str, Any] = {"rows": counts.rows, "nulls": counts.nulls, "invalid": counts.invalid}
    if isinstance(layout.bins, NumericLayout):
        mean, std = counts.mean_std(layout.bins.shift)
        finite = scan.sorted_sample()
        q = quantiles_of_sorted(finite, SUMMARY_QUANTILES).tolist() if len(finite) else [None] * len(SUMMARY_QUANTILES)
        out.update(min=_finite_or_none(counts.lo), max=_finite_or_none(counts.hi), mean=mean, std=std,
                   quantiles={f"p{round(p * 100)}": v for p, v in zip(SUMMARY_QUANTILES, q)},
                   infinite=int(counts.present - counts.finite),
                   distinct_exact=layout.bins.exact)
    else:
        out.update(distinct_tracked=len(scan.categories), high_cardinality=scan.overflow)
    return out


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _scan_findings(col: str, scan: _ColumnScan, kind: str, cfg: DriftConfig) -> list[dict[str, Any]]:
    found = []
    if scan.non_missing == 0:
        found.append({"code": "all_null", "column": col,
                      "message": f"{col}: every reference value is missing; only the null share is tested"})
    if {"numeric", "string"} <= scan.families:
        found.append({"code": "mixed_types", "column": col,
                      "message": f"{col}: the reference mixes numbers and text; profiled as {kind}"})
    if scan.invalid:
        found.append({"code": "invalid_values", "column": col,
                      "message": f"{col}: {scan.invalid} reference values could not be read as {kind}"})
    if kind == "categorical" and (scan.overflow or len(scan.categories) > cfg.top_k):
        found.append({"code": "high_cardinality", "column": col,
                      "message": f"{col}: more than {cfg.top_k} categories; the rest are pooled as 'other'"})
    return found

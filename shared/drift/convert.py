"""Turn one Arrow column chunk into what the counters need, never raising.

Values that cannot be read for the column's kind are *invalid* (counted and
reported as a finding), not errors: a type change in an upload must not crash
the drift check.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def family(type_: pa.DataType) -> str:
    """Coarse type family used to report type changes: numeric, string, bool, temporal, null, other."""
    if pa.types.is_dictionary(type_):
        return family(type_.value_type)
    if pa.types.is_null(type_):
        return "null"
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "numeric"
    if pa.types.is_temporal(type_):
        return "temporal"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or _is_string_view(type_):
        return "string"
    return "other"


def _is_string_view(type_: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(type_))


def _decode(arr: pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _temporal_seconds(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_date32(t):
        return pc.multiply(arr.cast(pa.int32()).cast(pa.float64()), 86400.0)
    if pa.types.is_date64(t):
        return pc.multiply(arr.cast(pa.int64()).cast(pa.float64()), 1e-3)
    unit = getattr(t, "unit", "s")
    return pc.multiply(arr.cast(pa.int64()).cast(pa.float64()), _SECONDS_PER_UNIT.get(unit, 1.0))


def to_float(arr: pa.Array) -> tuple[np.ndarray, int, int, list[str]]:
    """(non-missing values as float64, missing count, invalid count, a few invalid examples).

    NaN counts as missing; +-inf are kept as values (they land in the open
    end bins).
    """
    arr = _decode(arr)
    fam = family(arr.type)
    invalid = 0
    examples: list[str] = []
    if fam == "null":
        return np.empty(0), len(arr), 0, []
    if fam in ("numeric", "bool"):
        floats = arr if pa.types.is_float64(arr.type) else arr.cast(pa.float64(), safe=False)
    elif fam == "temporal":
        floats = _temporal_seconds(arr)
    elif fam == "string":
        floats, invalid, examples = _parse_strings(arr)
    else:
        return np.empty(0), arr.null_count, len(arr) - arr.null_count, [str(arr.type)]
    values = numpy_view(floats, np.float64)
    missing = np.isnan(values)
    if floats.null_count:
        missing |= ~valid_mask(floats)
    n_missing = int(missing.sum())
    if n_missing:
        values = values[~missing]
    return values, n_missing - invalid, invalid, examples


# pyarrow imports pandas (~0.3 s and ~40 MB) the first time ``Array.to_numpy``,
# ``pa.array`` or ``pa.scalar`` (also implicitly, e.g. ``fill_null(0)``) runs. The
# counting path avoids all three, so checking an upload never loads pandas.

def numpy_view(arr: pa.Array, dtype: type) -> np.ndarray:
    """Zero-copy numpy view of the values of a fixed-width Arrow array (slots of nulls are arbitrary)."""
    size = np.dtype(dtype).itemsize
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * size)


def valid_mask(arr: pa.Array) -> np.ndarray:
    """Boolean numpy array: True where ``arr`` is not null."""
    bitmap = arr.buffers()[0]
    if bitmap is None or arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), count=arr.offset + len(arr), bitorder="little")
    return bits[arr.offset:].view(bool)


def string_array(values: Sequence[str]) -> pa.Array:
    """``pa.array(values, pa.string())`` built from buffers (no pandas import, see above)."""
    data = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def _parse_strings(arr: pa.Array) -> tuple[pa.Array, int, list[str]]:
    """Strings to float64; unparseable values become null and are counted."""
    try:
        return pc.cast(arr, pa.float64()), 0, []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    import pandas as pd

    text = arr.cast(pa.string()).to_pandas()
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna()
    examples = sorted(set(text[bad].head(50).astype(str)))[:3]
    return pa.array(numbers.to_numpy(dtype=float), type=pa.float64()), int(bad.sum()), examples


def to_strings(arr: pa.Array) -> tuple[pa.Array, int, list[str]]:
    """(string array with nulls kept, invalid count, examples) for categorical columns."""
    arr = _decode(arr)
    fam = family(arr.type)
    if fam == "null":
        return pa.nulls(len(arr), pa.string()), 0, []
    if fam == "string":
        return (arr if pa.types.is_string(arr.type) else arr.cast(pa.string())), 0, []
    if fam == "numeric" and pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_nan(arr), pa.nulls(len(arr), arr.type), arr)
    try:
        return arr.cast(pa.string()), 0, []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(arr), pa.string()), len(arr) - arr.null_count, [str(arr.type)]


def number_name(value: float) -> str:
    """Display name of a numeric category: 3.0 -> '3', 2.5 -> '2.5'."""
    if np.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))

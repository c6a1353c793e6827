"""Labeled files: the one reader and the trainer's own checks, used by intake and by training alike.

Whatever intake accepts, training can read, and a file training would choke on never gets past intake:
- `read_labeled` reads CSV (also gzipped), Parquet (`.parquet`, `.pq`) and JSON Lines (`.jsonl`,
  `.ndjson`, `.json`, also gzipped) through the drift engine's streaming reader, with the bounds of
  `FileLimits`: a file whose columns or decoded size exceed them (a gzip bomb, a 10,000-column file) is
  refused while it is read, before it is ever whole in memory. It also returns the sha256 of the
  file's bytes, which a dataset de-duplicates by.
- `check_labeled` applies the checks: the target present with at least one label, labels and numeric
  values finite (no ±inf), no column that mixes numbers and text, and, when a `Contract` (the
  production model's schema) exists, every feature present, each of the kind the model was trained
  on, and no column the model does not know unless it is an allowed new column; with the task declared
  a regression (DRIFTLINE_TASK), numeric labels.
Each refusal is a `BadFile` whose message is one sentence naming the column and the problem.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import IO, Any

from shared.platform.errors import DriftlineError

MIB = 1024 * 1024
MIXED_NUMERIC_SHARE = 0.9  # a text column whose values are at least this share numbers is "mixed"


class BadFile(DriftlineError):
    """A labeled file that must not reach training; the message says why."""


@dataclass(frozen=True)
class FileLimits:
    max_bytes: int = 512 * MIB  # decoded (in-memory Arrow) size of one file
    max_columns: int = 1000


@dataclass(frozen=True)
class Contract:
    """What the production model was trained on: its target and its features' kinds."""

    target: str
    features: dict[str, str]  # name -> kind (see `kind_of_dtype`)
    target_kind: str | None = None
    new_columns: frozenset[str] = field(default_factory=frozenset)  # allowed although the model lacks them

    @classmethod
    def from_schema(cls, schema: dict[str, Any], new_columns: frozenset[str] = frozenset()) -> "Contract":
        return cls(target=schema["target"],
                   features={f["name"]: kind_of_dtype(f["dtype"]) for f in schema.get("features", [])},
                   target_kind=kind_of_dtype(schema["target_dtype"]) if schema.get("target_dtype") else None,
                   new_columns=new_columns)


@dataclass(frozen=True)
class LabeledFile:
    frame: Any  # pandas.DataFrame: the rows with a label
    sha256: str
    rows: int  # labeled rows (rows without a label are dropped)
    unlabeled: int


def kind_of_dtype(dtype: str) -> str:
    """numeric | boolean | datetime | text, from a pandas dtype name."""
    name = str(dtype).lower()
    if name.startswith(("int", "uint", "float")):
        return "numeric"
    if name.startswith("bool"):
        return "boolean"
    if name.startswith("datetime"):
        return "datetime"
    return "text"


class _Hashing:
    """A file-like that hashes what is read through it. Not seekable, so the reader spools it and
    reads it once from start to end: the hash is the file's."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.digest.update(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def finish(self) -> str:
        while chunk := self._raw.read(1 << 20):
            self.digest.update(chunk)
        return self.digest.hexdigest()


def read_labeled(stream: IO[bytes], name: str, limits: FileLimits = FileLimits()) -> tuple[Any, str]:
    """(DataFrame, sha256 of the bytes) of one labeled file; BadFile when it cannot be read in bounds."""
    import pyarrow as pa

    from shared.drift import UnreadableData
    from shared.drift.read import open_source

    hashing = _Hashing(stream)
    batches, decoded = [], 0
    try:
        with open_source(hashing, name=name) as source:
            for batch in source.batches():
                if batch.num_columns > limits.max_columns:
                    raise BadFile(f"has {batch.num_columns} columns, more than the {limits.max_columns} allowed "
                                  "(DRIFTLINE_LABELED_MAX_COLUMNS)")
                decoded += batch.nbytes
                if decoded > limits.max_bytes:
                    raise BadFile(f"decodes to more than {limits.max_bytes // MIB} MiB "
                                  "(DRIFTLINE_LABELED_MAX_BYTES); split it into smaller files")
                batches.append(batch)
            malformed = source.state.malformed_rows
    except UnreadableData as error:
        raise BadFile(f"unreadable: {error.reason}") from None
    if malformed:
        raise BadFile(f"breaks the format: {malformed} malformed rows (wrong number of fields)")
    if not batches or sum(b.num_rows for b in batches) == 0:
        raise BadFile("the file has no rows")
    try:
        table = pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise BadFile(f"its rows disagree on column types ({str(error).splitlines()[0]})") from None
    return table.to_pandas(), hashing.finish()


def check_labeled(frame: Any, sha256: str, target: str, contract: Contract | None = None,
                  task: str = "auto") -> LabeledFile:
    """The file's labeled rows, or BadFile naming the first problem the trainer would have with it.
    `task` is the declared one (shared.model.tasks): a regression cannot learn from text labels."""
    import numpy as np
    import pandas as pd

    if target not in frame.columns:
        raise BadFile(f"missing required column(s) {target}; labeled data needs the target {target!r}")
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise BadFile(f"has duplicate column(s) {', '.join(duplicated)}")
    if contract is not None:
        missing = [c for c in contract.features if c not in frame.columns]
        if missing:
            raise BadFile(f"missing required column(s) {', '.join(missing)}; labeled data needs the target "
                          f"{target!r} and the model's features")
        unexpected = [str(c) for c in frame.columns
                      if c != target and c not in contract.features and c not in contract.new_columns]
        if unexpected:
            raise BadFile(f"has column(s) the model does not know: {', '.join(unexpected[:5])}"
                          f"{' …' if len(unexpected) > 5 else ''}; declare them in driftline.toml [data] "
                          "new_columns (or DRIFTLINE_NEW_COLUMNS) to change the schema")
    for column in frame.columns:
        values = frame[column]
        kind = kind_of_dtype(str(values.dtype))
        if kind == "numeric":
            infinite = int(np.isinf(values.to_numpy(dtype="float64", na_value=np.nan)).sum())
            if infinite:
                raise BadFile(f"column {column!r} has {infinite} infinite value(s)")
        elif kind == "text" and values.notna().any():
            present = values.dropna()
            numeric = pd.to_numeric(present.astype(str), errors="coerce")
            share = float(numeric.notna().mean())
            if MIXED_NUMERIC_SHARE <= share < 1.0:
                odd = present[numeric.isna()].astype(str).iloc[0]
                raise BadFile(f"column {column!r} mixes numbers and text (e.g. {odd[:40]!r})")
        if contract is not None and column != target and column in contract.features:
            expected = contract.features[column]
            if kind != expected and values.notna().any():
                raise BadFile(f"column {column!r} holds {kind} values where the model expects {expected}")
    labels = frame[target]
    if contract is not None and contract.target_kind and labels.notna().any():
        kind = kind_of_dtype(str(labels.dtype))
        if kind != contract.target_kind and not {kind, contract.target_kind} <= {"numeric", "boolean"}:
            raise BadFile(f"the target {target!r} holds {kind} values where the model was trained on "
                          f"{contract.target_kind} labels")
    if task == "regression" and labels.notna().any() and kind_of_dtype(str(labels.dtype)) not in ("numeric", "boolean"):
        odd = labels.dropna().astype(str)
        odd = odd[pd.to_numeric(odd, errors="coerce").isna()]
        raise BadFile(f"the target {target!r} holds text values (e.g. {str(odd.iloc[0])[:40]!r}) where a "
                      "regression (DRIFTLINE_TASK=regression) needs numbers")
    labeled = frame[labels.notna()].reset_index(drop=True)
    if labeled.empty:
        raise BadFile(f"no labeled rows: every {target!r} is empty")
    return LabeledFile(labeled, sha256, int(len(labeled)), int(len(frame) - len(labeled)))


def schema_contract(schema_json: bytes | str, new_columns: frozenset[str] = frozenset()) -> Contract:
    return Contract.from_schema(json.loads(schema_json), new_columns)

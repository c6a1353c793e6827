"""Inputs of every kind and every kind of bad input: findings or UnreadableData, never a crash."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.drift import UnreadableData, build_profile, compare
from shared.drift.read import detect_format, open_source

rng = np.random.default_rng(0)
REF = pd.DataFrame({"num": rng.normal(size=2000), "cat": rng.choice(["a", "b", "c"], 2000),
                    "cnt": rng.integers(0, 1000, 2000)})


@pytest.fixture(scope="module")
def profile():
    return build_profile(REF, name="ref")


def codes(result):
    return {f["code"] for f in result.to_dict()["findings"]}


def col(result, name):
    return next(c for c in result.columns if c.name == name)


@pytest.mark.parametrize("name,fmt", [("a.csv", ("csv", False)), ("A.CSV.GZ", ("csv", True)),
                                      ("x.parquet", ("parquet", False)), ("x.pq", ("parquet", False)),
                                      ("x.jsonl", ("jsonl", False)), ("x.ndjson", ("jsonl", False)),
                                      ("x.json", ("jsonl", False))])
def test_format_from_name(name, fmt):
    assert detect_format(name) == fmt


def test_unknown_extension_is_unreadable():
    with pytest.raises(UnreadableData, match="cannot tell the format of 'x.txt'"):
        detect_format("x.txt")


def test_all_formats_give_the_same_answer(tmp_path, profile):
    cur = pd.DataFrame({"num": rng.normal(0.5, 1, 3000), "cat": rng.choice(["a", "b", "c"], 3000),
                        "cnt": rng.integers(0, 1000, 3000)})
    cur.to_csv(tmp_path / "c.csv", index=False)
    with gzip.open(tmp_path / "c.csv.gz", "wt") as fh:
        cur.to_csv(fh, index=False)
    cur.to_parquet(tmp_path / "c.parquet", row_group_size=700)
    cur.to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    reference = compare(profile, cur)
    want = [(c.name, c.drifted, round(c.statistic, 9)) for c in reference.columns]
    for name in ("c.csv", "c.csv.gz", "c.parquet", "c.jsonl"):
        got = compare(profile, tmp_path / name)
        assert [(c.name, c.drifted, round(c.statistic, 9)) for c in got.columns] == want, name
        assert got.rows_current == 3000
    with open(tmp_path / "c.csv.gz", "rb") as fh:      # binary stream; name gives the format
        assert compare(profile, fh, name="upload.csv.gz").rows_current == 3000


class OneShot(io.RawIOBase):
    """A non-seekable stream, like a blob download."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        chunk = self._buf.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)


def test_non_seekable_streams_and_batch_iterators(profile):
    buf = io.BytesIO()
    REF.to_parquet(buf)
    result = compare(profile, OneShot(buf.getvalue()), name="blob.parquet")
    assert result.rows_current == 2000 and not result.dataset_drift
    batches = pa.Table.from_pandas(REF).to_batches(max_chunksize=300)
    again = build_profile(iter(batches))              # one-shot iterator, read twice via a spool file
    assert again.reference.rows == 2000
    assert {k: c.kind for k, c in again.columns.items()} == {k: c.kind for k, c in profile.columns.items()}


def test_profile_json_round_trip_and_size(profile):
    blob = profile.to_json()
    d = json.loads(blob)
    assert d["schema"] == "driftline.profile/1" and d["id"] == profile.id
    big = build_profile(pd.concat([REF] * 50, ignore_index=True))
    assert len(big.to_json()) < 2 * len(blob) + 50_000        # size does not grow with rows
    again = type(profile).from_json(blob)
    assert again.id == profile.id and compare(again, REF).rows_current == 2000


def test_profile_from_json_rejects_other_documents():
    with pytest.raises(ValueError, match="expected schema 'driftline.profile/1'"):
        type(build_profile(REF)).from_json(b'{"schema": "other"}')


def test_empty_file_is_unreadable(tmp_path, profile):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(UnreadableData, match="empty"):
        compare(profile, tmp_path / "e.csv")


def test_header_only_gives_no_rows_finding(tmp_path, profile):
    (tmp_path / "h.csv").write_text("num,cat,cnt\n")
    result = compare(profile, tmp_path / "h.csv")
    assert result.rows_current == 0 and not result.dataset_drift
    assert "no_rows" in codes(result) and not any(c.tested for c in result.columns)
    with pytest.raises(UnreadableData, match="no data rows"):
        build_profile(tmp_path / "h.csv")


def test_one_row(tmp_path, profile):
    (tmp_path / "o.csv").write_text("num,cat,cnt\n0.1,a,5\n")
    result = compare(profile, tmp_path / "o.csv")
    assert result.rows_current == 1 and not result.dataset_drift
    one = build_profile(tmp_path / "o.csv")
    assert one.reference.rows == 1
    assert compare(one, tmp_path / "o.csv").rows_current == 1


def test_missing_new_and_all_null_columns(tmp_path, profile):
    (tmp_path / "m.csv").write_text("num,extra,cnt\n" + "\n".join(f"{i / 10},x,\n" for i in range(50)))
    result = compare(profile, tmp_path / "m.csv")
    assert {"missing_columns", "new_columns", "missing_column", "all_null"} <= codes(result)
    assert not col(result, "cat").tested
    cnt = col(result, "cnt")
    assert cnt.drifted and cnt.null_share_current == 1.0


def test_mixed_types_in_a_column(tmp_path, profile):
    lines = [f"{v},a,{i}" for i, v in enumerate(rng.normal(size=300))]
    lines[250] = "oops,a,1"                              # after the first parse block
    (tmp_path / "x.csv").write_text("num,cat,cnt\n" + "\n".join(lines) + "\n")
    from shared.drift import DriftConfig, observe
    obs = observe(profile, tmp_path / "x.csv", config=DriftConfig(batch_bytes=1 << 16))
    assert obs.rows == 300 and obs.columns["num"].invalid == 1
    result = compare(profile, tmp_path / "x.csv")
    inv = [f for f in col(result, "num").findings if f["code"] == "invalid_values"]
    assert inv and "'oops'" in inv[0]["message"]
    mixed = pd.DataFrame({"v": [1, "two", 3.0, None] * 10})
    prof = build_profile(mixed)                          # object column with mixed types
    assert prof.columns["v"].kind == "categorical"


def test_mid_file_type_change_restarts_csv_read(tmp_path):
    """pyarrow infers CSV types from the first block; a later text value must not abort the read."""
    body = "\n".join(f"{i},{i % 7}" for i in range(20000)) + "\nabc,1\n"
    (tmp_path / "t.csv").write_text("a,b\n" + body)
    from shared.drift import DriftConfig
    prof = build_profile(tmp_path / "t.csv", config=DriftConfig(batch_bytes=1 << 16))
    assert prof.reference.rows == 20001
    assert prof.columns["a"].kind == "numeric"
    assert prof.reference.columns["a"].invalid == 1


def test_inf_and_nan(tmp_path, profile):
    cur = pd.DataFrame({"num": [np.inf, -np.inf, np.nan] + list(rng.normal(size=97)),
                        "cat": ["a"] * 100, "cnt": rng.integers(0, 1000, 100)})
    result = compare(profile, cur)
    num = col(result, "num")
    assert num.null_share_current == pytest.approx(0.01)
    assert any(f["code"] == "infinite_values" and f["count"] == 2 for f in num.findings)
    json.loads(result.to_json())                         # strict JSON: no NaN/inf leak out


@pytest.mark.parametrize("name,data,match", [
    ("g.csv", bytes(range(256)) * 40, "not a CSV text file"),
    ("g.parquet", b"PAR1 not really parquet", "not a readable Parquet file"),
    ("g.csv.gz", b"\x1f\x8b\x08garbage-gzip", "not a readable CSV file"),
    ("g.jsonl", b"{not json}\n[1,2\n", "not a readable JSON Lines file"),
    ("g.json", b'[{"a": 1}]', "JSON array, not JSON Lines"),
])
def test_garbage_is_unreadable(tmp_path, profile, name, data, match):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(UnreadableData, match=match) as info:
        compare(profile, tmp_path / name)
    assert info.value.reason and "\n" not in info.value.reason
    with pytest.raises(UnreadableData):
        build_profile(tmp_path / name)


def test_ragged_rows_are_skipped_and_reported(tmp_path, profile):
    (tmp_path / "r.csv").write_text("num,cat,cnt\n1,a,2\n1,a\n2,b,3\n1,2,3,4\n")
    result = compare(profile, tmp_path / "r.csv")
    assert result.rows_current == 2 and "malformed_rows" in codes(result)


def test_jsonl_with_mixed_types_uses_the_slow_path(tmp_path, profile):
    lines = [json.dumps({"num": float(v), "cat": "a", "cnt": 3}) for v in rng.normal(size=50)]
    lines.append(json.dumps({"num": "n/a", "cat": 7, "cnt": 3}))
    lines.append("not json")
    (tmp_path / "m.jsonl").write_text("\n".join(lines))
    result = compare(profile, tmp_path / "m.jsonl")
    assert result.rows_current == 51
    assert any(f["code"] == "invalid_values" for f in col(result, "num").findings)
    assert "malformed_rows" in codes(result)


def test_source_is_replayable_for_paths(tmp_path):
    REF.to_csv(tmp_path / "r.csv", index=False)
    with open_source(tmp_path / "r.csv") as src:
        first = sum(b.num_rows for b in src.batches())
        second = sum(b.num_rows for b in src.batches())
    assert first == second == 2000


def test_explicit_schema_wins(profile):
    prof = build_profile(REF, schema={"cnt": "categorical", "num": "ignore"})
    assert prof.columns["cnt"].kind == "categorical" and "num" not in prof.columns
    with pytest.raises(ValueError, match="must be one of numeric, categorical, ignore"):
        build_profile(REF, schema={"cnt": "text"})


def _profile_dict(p):
    d = p.to_dict()
    d.pop("created_at")
    return d


@pytest.mark.parametrize("lines,reread", [
    # int, float with gaps, text with gaps, few-valued numbers: kept batches are counted as they are
    ([f"{i},{'' if i % 11 == 0 else i * 0.1},{'' if i % 7 == 0 else 'xyz'[i % 3]},{i % 4}" for i in range(5000)], False),
    # booleans and a column that turns to text after the first parse block: the count re-reads the file
    ([f"{i},{'true' if i % 2 else 'false'},a,{i % 4}" for i in range(5000)], True),
    ([f"{i},{i % 3},a,{'oops' if i == 15000 else i % 4}" for i in range(20000)], True),
])
def test_small_reference_is_read_once_with_the_same_profile(tmp_path, monkeypatch, lines, reread):
    from shared.drift import DriftConfig, read
    from shared.drift import profile as profile_module
    (tmp_path / "r.csv").write_text("a,b,c,d\n" + "\n".join(lines) + "\n")
    (tmp_path / "r.csv.gz").write_bytes(gzip.compress((tmp_path / "r.csv").read_bytes()))
    cfg = DriftConfig(batch_bytes=1 << 16)
    opened = []
    real_csv_names = read._csv_names
    monkeypatch.setattr(read, "_csv_names", lambda open_stream: opened.append(1) or real_csv_names(open_stream))
    for name in ("r.csv", "r.csv.gz"):
        opened.clear()
        once = build_profile(tmp_path / name, config=cfg)
        assert len(opened) == (2 if reread else 1)
        monkeypatch.setattr(profile_module, "KEEP_REFERENCE_BYTES", 0)      # too large to keep: read twice
        opened.clear()
        twice = build_profile(tmp_path / name, config=cfg)
        assert len(opened) == 2
        monkeypatch.setattr(profile_module, "KEEP_REFERENCE_BYTES", 256 << 20)
        assert _profile_dict(once) == _profile_dict(twice)


def test_small_parquet_and_table_references_are_read_once(tmp_path, monkeypatch):
    from shared.drift import profile as profile_module
    table = pa.Table.from_pandas(REF.assign(skip=1.0), preserve_index=False)
    pq.write_table(table, tmp_path / "r.parquet", row_group_size=500)
    for source in (tmp_path / "r.parquet", table):
        once = build_profile(source, schema={"skip": "ignore"})
        monkeypatch.setattr(profile_module, "KEEP_REFERENCE_BYTES", 0)
        twice = build_profile(source, schema={"skip": "ignore"})
        monkeypatch.setattr(profile_module, "KEEP_REFERENCE_BYTES", 256 << 20)
        assert _profile_dict(once) == _profile_dict(twice)
        assert "skip" not in once.columns and once.reference.new_columns == set()


def test_malformed_rows_are_counted_once_when_the_read_restarts(tmp_path):
    from shared.drift import DriftConfig
    lines = [f"{i},{i % 7}" for i in range(20000)]
    lines[100] = lines[15000] = "1,2,3"                  # malformed, before and after the restart point
    lines.append("abc,1")                                # text after the first parse block: re-read
    (tmp_path / "m.csv").write_text("a,b\n" + "\n".join(lines) + "\n")
    prof = build_profile(tmp_path / "m.csv", config=DriftConfig(batch_bytes=1 << 16))
    assert prof.reference.rows == 19999 and prof.reference.malformed_rows == 2
    assert prof.reference.columns["a"].invalid == 1


def test_stopping_early_closes_the_background_reader(tmp_path):
    import threading
    pd.DataFrame({"x": np.arange(200_000.0)}).to_csv(tmp_path / "big.csv", index=False)
    src = open_source(tmp_path / "big.csv")
    batches = src.batches(block_size=1 << 16)
    first = next(batches)
    assert first.num_rows > 0
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == "driftline-read"]
    assert sum(b.num_rows for b in src.batches(block_size=1 << 20)) == 200_000


def test_csv_batches_join_small_parse_blocks(tmp_path):
    from shared.drift.read import CSV_PARSE_BLOCK
    pd.DataFrame({"x": rng.normal(size=300_000)}).to_csv(tmp_path / "big.csv", index=False)   # ~6 MB
    sizes = [b.nbytes for b in open_source(tmp_path / "big.csv").batches(block_size=4 << 20)]
    assert sum(sizes) == 300_000 * 8 and len(sizes) < 6
    assert max(sizes) < (4 << 20) + 2 * CSV_PARSE_BLOCK

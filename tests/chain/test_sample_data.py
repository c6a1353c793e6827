"""The sample data generator is deterministic and makes what the docs and tests rely on."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_sample_data.py"


def test_sample_data_is_deterministic_and_shaped_as_documented(tmp_path):
    write = runpy.run_path(str(SCRIPT))["write"]
    first = [p.read_bytes() for p in write(tmp_path / "a", 2000, 7)]
    paths = write(tmp_path / "b", 2000, 7)
    assert first == [p.read_bytes() for p in paths]
    assert all(p.stat().st_size < 300_000 for p in paths)
    labeled = pd.read_csv(paths[0])
    assert labeled.shape == (2000, 9) and set(labeled["label"]) == {0, 1}
    assert len(labeled.select_dtypes("number").columns) == 7  # 6 numeric features + label
    ok, drifted = pd.read_csv(paths[1]), pd.read_csv(paths[2])
    assert "label" not in ok.columns and list(ok.columns) == list(drifted.columns)
    assert drifted["age"].mean() - ok["age"].mean() > 10
    assert (drifted["plan"] == "premium").mean() > 2 * (ok["plan"] == "premium").mean()
    segment = pd.read_csv(paths[3])  # the labels the drift waits for: the drifted segment, labeled
    assert list(segment.columns) == list(labeled.columns) and len(segment) == 1000
    assert segment["age"].mean() - labeled["age"].mean() > 10 and set(segment["label"]) == {0, 1}
    with pytest.raises(pd.errors.ParserError):
        pd.read_csv(paths[4])


def test_committed_sample_matches_the_generator(tmp_path):
    root = SCRIPT.parent.parent / "sample_data"
    write = runpy.run_path(str(SCRIPT))["write"]
    for made in write(tmp_path, 2000, 7):
        assert made.read_bytes() == (root / made.relative_to(tmp_path)).read_bytes(), made

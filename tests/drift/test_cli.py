from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.drift", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=3000), "b": rng.choice(list("xyz"), 3000)}).to_csv(d / "ref.csv", index=False)
    pd.DataFrame({"a": rng.normal(size=3000), "b": rng.choice(list("xyz"), 3000)}).to_parquet(d / "same.parquet")
    pd.DataFrame({"a": rng.normal(1, 1, 3000), "b": rng.choice(list("xw"), 3000)}).to_csv(d / "drift.csv", index=False)
    return d


def test_profile_then_compare_exit_codes(files):
    r = run("profile", files / "ref.csv", "-o", files / "p.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((files / "p.json").read_text())["schema"] == "driftline.profile/1"
    assert "rows" in r.stderr
    same = run("compare", files / "same.parquet", "--profile", files / "p.json")
    assert same.returncode == 0, same.stderr
    drift = run("compare", files / "drift.csv", "--profile", files / "p.json",
                "--json", files / "out.json", "--html", files / "out.html")
    assert drift.returncode == 1, drift.stderr
    assert json.loads((files / "out.json").read_text())["dataset_drift"] is True
    assert (files / "out.html").read_text().startswith("<!DOCTYPE html>")
    assert "DRIFT" in drift.stdout and "MB/s" in drift.stderr


def test_compare_against_reference_file_with_config(files):
    (files / "cfg.json").write_text(json.dumps({"thresholds": {"wasserstein_norm": 5, "psi": 50}}))
    r = run("compare", files / "drift.csv", "--reference", files / "ref.csv", "--config", files / "cfg.json")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("setup,args,message", [
    (None, ["compare", "missing.csv", "--profile", "p.json"], "error:"),
    ("garbage", ["compare", "g.csv", "--profile", "p.json"], "unreadable data: not a CSV text file"),
    ("badcfg", ["compare", "drift.csv", "--profile", "p.json", "--config", "bad.json"],
     "drift setting 'fdr' must be a number in (0, 1)"),
    ("notjson", ["compare", "drift.csv", "--profile", "p.json", "--config", "nj.json"], "is not valid JSON"),
])
def test_errors_exit_2_with_a_clear_message(files, setup, args, message):
    run("profile", files / "ref.csv", "-o", files / "p.json")
    if setup == "garbage":
        (files / "g.csv").write_bytes(bytes(range(256)) * 10)
    elif setup == "badcfg":
        (files / "bad.json").write_text('{"fdr": 5}')
    elif setup == "notjson":
        (files / "nj.json").write_text("{")
    r = run(*[str(files / a) if a.endswith((".csv", ".json")) else a for a in args])
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr

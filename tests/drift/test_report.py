"""JSON contract, self-contained HTML, and a screenshot of the page in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.drift import DriftConfig, build_profile, compare, render_html
from tests.helpers.png import png_pixels, png_size

ROOT = Path(__file__).resolve().parents[2]


def demo_frames(n_numeric: int = 8, n_cat: int = 3, rows: int = 5000, seed: int = 0):
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(n_numeric):
        ref[f"feature_{i}"] = rng.normal(i, 1 + i / 4, rows)
        shift = (0.6 if i % 3 == 0 else 0.0) * (1 + i / 4)
        cur[f"feature_{i}"] = rng.normal(i + shift, 1 + i / 4, rows)
    for j in range(n_cat):
        levels = [f"L{k}" for k in range(6)]
        ref[f"segment_{j}"] = rng.choice(levels, rows)
        cur[f"segment_{j}"] = rng.choice(levels + (["NEW"] if j == 0 else []), rows)
    ref["income"] = np.where(rng.random(rows) < 0.02, np.nan, rng.lognormal(10, 0.5, rows))
    cur["income"] = np.where(rng.random(rows) < 0.25, np.nan, rng.lognormal(10, 0.5, rows))
    return pd.DataFrame(ref), pd.DataFrame(cur)


@pytest.fixture(scope="module")
def result():
    ref, cur = demo_frames()
    return compare(build_profile(ref, name="training-2024-06"), cur, name="upload-2024-07.csv",
                   config=DriftConfig(key_features=("feature_0",)))


def test_json_report_contract(result):
    d = json.loads(result.to_json())
    assert d["schema"] == "driftline.drift-report/1"
    assert d["dataset_drift"] is True and isinstance(d["share_drifted"], float)
    assert d["rows"] == {"reference": 5000, "current": 5000}
    assert d["profile"]["id"] == result.profile_id
    col = next(c for c in d["columns"] if c["name"] == "feature_0")
    assert col["drifted"] is True and col["kind"] == "numeric" and col["test"] == "ks"
    assert col["p_value"] <= col["p_adjusted"] < 0.05
    assert col["effect"]["name"] == "wasserstein_norm" and col["effect"]["value"] >= col["effect"]["threshold"]
    assert "p_adj=" in col["reason"]
    assert any(f["code"] == "unseen_categories" and f["column"] == "segment_0" for f in d["findings"])
    income = next(c for c in d["columns"] if c["name"] == "income")
    assert income["drifted"] and income["null_share"]["current"] > 0.2


def test_html_is_self_contained(result):
    page = render_html(result)
    assert page.startswith("<!DOCTYPE html>") and "Drift detected" in page
    assert not re.search(r"(https?:)?//[a-z]", page, re.I)       # no external URLs
    assert "<script" not in page.lower() and "<svg" in page
    order = [m for m in re.findall(r"<tr><td>([^<]+)", page)]
    assert order[0] in result.drifted_columns                 # drifted, biggest effect first


def test_html_size_is_bounded_for_100_columns():
    ref, cur = demo_frames(n_numeric=80, n_cat=20, rows=1000, seed=1)
    page = render_html(compare(build_profile(ref), cur))
    assert len(page.encode()) < 2_000_000
    ref10, cur10 = demo_frames(n_numeric=80, n_cat=20, rows=10_000, seed=1)
    page10 = render_html(compare(build_profile(ref10), cur10))
    assert abs(len(page10) - len(page)) < 0.05 * len(page)    # independent of row count


WINDOW = (1280, 1600)   # chromium --window-size: the screenshot's width and height in pixels
PAGE_BACKGROUND = (0xF5, 0xF7, 0xFA)
DRIFT_BANNER = (0xC0, 0x39, 0x2B)
REFERENCE_BARS = (0x8D, 0xA0, 0xB6)


def test_screenshot_in_headless_chromium(result, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI installs it")
    html = tmp_path / "report.html"
    html.write_text(render_html(result), encoding="utf-8")
    png = tmp_path / "drift-report.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--force-device-scale-factor=1", "--force-color-profile=srgb",   # pixels = CSS px, colours exact
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", html.as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=90)
    data = png.read_bytes()
    assert png_size(data) == WINDOW
    pixels = png_pixels(data)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    rgb = pixels[..., :3].reshape(-1, 3).astype(np.uint32)
    colours, counts = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2], return_counts=True)
    share = dict(zip(colours.tolist(), (counts / counts.sum()).tolist()))

    def share_of(colour: tuple[int, int, int]) -> float:
        return share.get(colour[0] << 16 | colour[1] << 8 | colour[2], 0.0)

    assert len(colours) >= 200, "too few colours: blank page or no text and charts drawn"
    assert counts.max() / counts.sum() < 0.8, "one colour covers most of the picture"
    assert share_of(PAGE_BACKGROUND) > 0.01, "the page's own background is not visible: not our page"
    assert share_of(DRIFT_BANNER) > 0.02, "no red 'Drift detected' banner"
    assert share_of(REFERENCE_BARS) > 0.005, "no reference histogram bars"
    if os.environ.get("DRIFTLINE_UPDATE_SCREENSHOTS") == "1":  # refresh the one kept in docs/
        shutil.copyfile(png, ROOT / "docs" / "drift-report.png")

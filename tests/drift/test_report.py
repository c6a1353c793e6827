"""JSON contract, self-contained HTML, and a screenshot of the page in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.drift import DriftConfig, build_profile, compare, render_html

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


# -- PNG decoding (Pillow is not a dependency) ------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of each chunk, CRCs checked."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r} chunk"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    return chunks


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk."""
    return struct.unpack(">II", png_chunks(data)[0][1][:8])


def png_pixels(data: bytes) -> np.ndarray:
    """(height, width, channels) uint8 pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    chunks = png_chunks(data)
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    out = np.zeros((height + 1, stride), dtype=np.uint8)   # row 0: the zero row "above" the image
    for y in range(height):
        start = y * (stride + 1)
        kind, line, prior = raw[start], np.frombuffer(raw, np.uint8, stride, start + 1), out[y]
        if kind == 0:                                     # None
            out[y + 1] = line
        elif kind == 1:                                   # Sub: running sum per channel, mod 256
            out[y + 1] = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).ravel()
        elif kind == 2:                                   # Up
            out[y + 1] = line + prior
        elif kind in (3, 4):                              # Average, Paeth: depend on the decoded left byte
            out[y + 1] = np.frombuffer(_unfilter_sequential(kind, line, prior, bpp), np.uint8)
        else:
            raise AssertionError(f"PNG row {y} has unknown filter type {kind}")
    return out[1:].reshape(height, width, bpp)


def _unfilter_sequential(kind: int, line: np.ndarray, prior: np.ndarray, bpp: int) -> bytearray:
    cur, up = bytearray(line.tobytes()), prior.tobytes()
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        b = up[i]
        if kind == 3:
            cur[i] = (cur[i] + ((a + b) >> 1)) & 255
            continue
        c = up[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return cur

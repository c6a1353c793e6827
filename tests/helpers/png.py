"""PNG decoding for the screenshot tests (Pillow is not a dependency), and the browser they drive."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np

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


BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--force-device-scale-factor=1", "--force-color-profile=srgb")  # pixels = CSS px, colours exact


def chromium() -> str | None:
    """The Debian `chromium` on PATH, if installed."""
    return shutil.which("chromium")


def screenshot(url: str, png: Path, profile: Path, window: tuple[int, int]) -> bytes:
    """A headless Chromium screenshot of `url` at `window` (width, height) CSS pixels."""
    browser = chromium()
    assert browser is not None
    subprocess.run([browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                    f"--window-size={window[0]},{window[1]}", url], check=True, capture_output=True, timeout=90)
    return png.read_bytes()


def dump_dom(url: str, profile: Path) -> str:
    """The DOM of `url` as headless Chromium rendered it."""
    browser = chromium()
    assert browser is not None
    result = subprocess.run([browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                            check=True, capture_output=True, timeout=90, text=True)
    return result.stdout

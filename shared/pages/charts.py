"""Inline SVG charts of the pages: a feature's drift over time, and a run's step timeline.

Pure functions from page data to SVG text; every label is HTML-escaped. No script, no external URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from shared.pages.data import FeatureSeries

STATUS_COLORS = {
    "succeeded": "#2e8b57", "failed": "#c0392b", "rejected": "#d35400", "running": "#2874a6",
    "waiting": "#b7950b", "skipped": "#7f8c8d", "pending": "#bdc3c7",
}
LINE, OK, DRIFT, THRESHOLD = "#5b7089", "#2e8b57", "#c0392b", "#e8743b"


def drift_sparkline(series: FeatureSeries, width: int = 280, height: int = 64) -> str:
    """The feature's effect size per report (dots: red drifted, green not), its threshold dashed."""
    points = [p for p in series.points if p.effect is not None]
    pad, left = 6, 4
    if not points:
        return (f'<svg class="spark" width="{width}" height="{height}" role="img" aria-label="no effect sizes">'
                f'<text x="{left}" y="{height // 2}" font-size="11" fill="#7f8c8d">not tested</text></svg>')
    thresholds = [p.threshold for p in points if p.threshold is not None]
    threshold = thresholds[-1] if thresholds else None
    top = max([p.effect or 0.0 for p in points] + ([threshold] if threshold is not None else [])) * 1.15 or 1.0
    step = (width - 2 * pad - left) / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + pad + (i * step if len(points) > 1 else (width - 2 * pad - left) / 2)

    def y(value: float) -> float:
        return height - pad - (value / top) * (height - 2 * pad)

    parts = [f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(series.feature)}: {escape(series.effect_name)} per report">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfcfd" stroke="#e3e8ee"/>']
    if threshold is not None:
        parts.append(f'<line x1="{left}" x2="{width - 2}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
                     f'stroke="{THRESHOLD}" stroke-dasharray="4 3"/>')
    coords = " ".join(f"{x(i):.1f},{y(p.effect or 0.0):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline points="{coords}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    for i, p in enumerate(points):
        label = f"{p.at}: {series.effect_name} {p.effect:.3g}" + (" (drift)" if p.drifted else "")
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(p.effect or 0.0):.1f}" r="3.5" '
                     f'fill="{DRIFT if p.drifted else OK}"><title>{escape(label)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def step_timeline(steps: Sequence[dict[str, Any]], created: str, width: int = 900) -> str:
    """One bar per step from its start to its finish, relative to the run's creation, by status."""
    row, label_w, pad = 26, 110, 8
    origin = _time(created)
    spans: list[tuple[dict[str, Any], float | None, float | None]] = []
    for step in steps:
        start, end = _time(step.get("started")), _time(step.get("finished"))
        if origin is None or (start is None and end is None):
            spans.append((step, None, None))
            continue
        begin = (start or end or origin) - origin
        finish = (end or start or origin) - origin
        spans.append((step, max(begin, 0.0), max(finish, begin, 0.0)))
    total = max([end for _, _, end in spans if end is not None] + [0.001])
    height = row * len(steps) + 2 * pad + 16
    usable = width - label_w - 2 * pad - 70
    parts = [f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="step timeline">']
    for i, (step, since, until) in enumerate(spans):
        top = pad + i * row
        status = str(step.get("status") or "pending")
        color = STATUS_COLORS.get(status, "#95a5a6")
        parts.append(f'<text x="{pad}" y="{top + 17}" font-size="13" fill="#1d2733">{escape(step["step"])}</text>')
        if since is None or until is None:
            parts.append(f'<text x="{label_w + pad}" y="{top + 17}" font-size="12" fill="#7f8c8d">{escape(status)}'
                         f'</text>')
            continue
        bx = label_w + pad + since / total * usable
        bw = max((until - since) / total * usable, 3)
        parts.append(f'<rect x="{bx:.1f}" y="{top + 4}" width="{bw:.1f}" height="{row - 8}" rx="3" fill="{color}">'
                     f'<title>{escape(step["step"])}: {escape(status)}</title></rect>')
        parts.append(f'<text x="{bx + bw + 6:.1f}" y="{top + 17}" font-size="12" fill="#4a5866">'
                     f'{until - since:.1f} s</text>')
    axis = pad + len(steps) * row + 12
    parts.append(f'<text x="{label_w + pad}" y="{axis}" font-size="11" fill="#7f8c8d">0 s</text>')
    parts.append(f'<text x="{label_w + pad + usable}" y="{axis}" font-size="11" fill="#7f8c8d" text-anchor="end">'
                 f'{total:.1f} s after the run started</text></svg>')
    return "".join(parts)


def _time(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp() if value else None
    except ValueError:
        return None

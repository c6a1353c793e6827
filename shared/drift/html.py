"""Self-contained HTML drift report: inline CSS and SVG, no scripts, no external URLs.

Charts are drawn from the binned shares in the result, so the page size
depends on the number of columns, never on the number of rows.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import ColumnResult, DriftResult

REF_COLOR, CUR_COLOR = "#8da0b6", "#e8743b"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2733;margin:0;background:#f5f7fa}
main{max-width:1240px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.verdict{border-radius:8px;padding:16px 20px;color:#fff;margin-bottom:16px}
.verdict.drift{background:#c0392b}.verdict.ok{background:#2e8b57}
.verdict .big{font-size:26px;font-weight:700}.meta{color:#e9eef3;font-size:13px}
.facts{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.fact{background:#fff;border-radius:6px;padding:8px 14px;box-shadow:0 1px 2px #0001}
.fact b{display:block;font-size:18px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e3e8ee;text-align:left;vertical-align:top}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff}
.b-drift{background:#c0392b}.b-ok{background:#2e8b57}.b-skip{background:#7f8c8d}
.reason{color:#4a5866;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(2,1fr);gap:12px}
.card{background:#fff;border-radius:6px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.card h3{font-size:14px;margin:0 0 2px}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
ul.findings{background:#fff8e6;border:1px solid #f0d9a0;border-radius:6px;padding:8px 8px 8px 28px;margin:0}
"""


def _f(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if x != 0 and (abs(x) < 10 ** -digits or abs(x) >= 10 ** 6):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _badge(c: "ColumnResult") -> str:
    if not c.tested:
        return '<span class="badge b-skip">not tested</span>'
    return '<span class="badge b-drift">drift</span>' if c.drifted else '<span class="badge b-ok">ok</span>'


def _bars(ref: list[float], cur: list[float], width: int = 560, height: int = 130) -> str:
    """Overlaid vertical bars: reference filled grey, current orange outline."""
    n = len(ref)
    top = max(max(ref, default=0), max(cur, default=0)) or 1.0
    bw = width / n
    parts = []
    for i, (r, c) in enumerate(zip(ref, cur)):
        x = i * bw
        rh, ch = r / top * (height - 4), c / top * (height - 4)
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - rh:.1f}" width="{bw - 2:.1f}" height="{rh:.1f}" '
                     f'fill="{REF_COLOR}"/>')
        parts.append(f'<rect x="{x + bw * 0.25:.1f}" y="{height - ch:.1f}" width="{bw * 0.5:.1f}" '
                     f'height="{ch:.1f}" fill="{CUR_COLOR}" fill-opacity="0.85"/>')
    return "".join(parts)


def _numeric_chart(chart: dict[str, Any]) -> str:
    edges = chart["edges"]
    w, h = 560, 130
    svg = [f'<svg width="100%" viewBox="0 0 {w} {h + 22}" role="img">',
           _bars(chart["reference"], chart["current"], w, h),
           f'<line x1="0" y1="{h}" x2="{w}" y2="{h}" stroke="#99a"/>']
    bw = w / len(chart["reference"])
    labels = [(bw * 1.5, edges[0]), (w / 2, edges[len(edges) // 2]), (w - bw * 1.5, edges[-1])]
    for x, v in labels:
        svg.append(f'<text x="{x:.0f}" y="{h + 15}" font-size="11" text-anchor="middle" fill="#556">{_f(v)}</text>')
    svg.append(f'<text x="2" y="{h + 15}" font-size="10" fill="#889">&lt;</text>'
               f'<text x="{w - 8}" y="{h + 15}" font-size="10" fill="#889">&gt;</text></svg>')
    return "".join(svg)


def _categorical_chart(chart: dict[str, Any]) -> str:
    labels, ref, cur = chart["labels"], chart["reference"], chart["current"]
    w, row, left = 560, 18, 150
    h = row * len(labels) + 4
    top = max(max(ref, default=0), max(cur, default=0)) or 1.0
    svg = [f'<svg width="100%" viewBox="0 0 {w} {h}" role="img">']
    for i, (lab, r, c) in enumerate(zip(labels, ref, cur)):
        y = i * row + 2
        text = lab if len(lab) <= 22 else lab[:21] + "…"
        svg.append(f'<text x="{left - 6}" y="{y + 12}" font-size="11" text-anchor="end" fill="#334">'
                   f'{escape(text)}</text>')
        svg.append(f'<rect x="{left}" y="{y + 1}" width="{r / top * (w - left - 100):.1f}" height="7" '
                   f'fill="{REF_COLOR}"/>')
        svg.append(f'<rect x="{left}" y="{y + 8}" width="{c / top * (w - left - 100):.1f}" height="7" '
                   f'fill="{CUR_COLOR}"/>')
        svg.append(f'<text x="{w - 94}" y="{y + 12}" font-size="10" fill="#556">{r:.1%} → {c:.1%}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _card(c: "ColumnResult") -> str:
    chart = ""
    if c.chart.get("type") == "numeric":
        chart = _numeric_chart(c.chart)
    elif c.chart.get("type") == "categorical":
        chart = _categorical_chart(c.chart)
    findings = "".join(f"<li>{escape(f['message'])}</li>" for f in c.findings)
    return (f'<div class="card"><h3>{escape(c.name)} {_badge(c)} <small>{c.kind}</small></h3>'
            f'<div class="reason">{escape(c.reason)}</div>{chart}'
            + (f'<ul class="findings">{findings}</ul>' if findings else "") + "</div>")


def _row(c: "ColumnResult") -> str:
    effect = f"{c.effect_name} {_f(c.effect)} / {_f(c.threshold)}" if c.effect_name else "–"
    nulls = (f"{c.null_share_reference:.1%} → {c.null_share_current:.1%}"
             if c.null_share_current is not None else "–")
    key = " ★" if c.key_feature else ""
    return (f"<tr><td>{escape(c.name)}{key}</td><td>{c.kind}</td><td>{_badge(c)}</td>"
            f'<td class="num">{escape(effect)}</td><td class="num">{_f(c.p_adjusted)}</td>'
            f'<td class="num">{nulls}</td><td class="reason">{escape(c.reason)}</td></tr>')


def render_html(result: "DriftResult") -> str:
    """One self-contained page: verdict, table sorted by effect/threshold, per-column histograms."""
    r = result
    columns = sorted(r.columns, key=lambda c: (not c.drifted, not c.tested, -c.severity, c.name))
    tested = sum(c.tested for c in r.columns)
    drifted = sum(c.drifted for c in r.columns)
    cls, title = ("drift", "Drift detected") if r.dataset_drift else ("ok", "No dataset drift")
    dataset_findings = "".join(f"<li>{escape(f['message'])}</li>" for f in r.findings)
    facts = [("columns drifted", f"{drifted} / {tested}"), ("share drifted", f"{r.share_drifted:.0%}"),
             ("reference rows", f"{r.rows_reference:,}"), ("current rows", f"{r.rows_current:,}"),
             ("FDR (BH)", _f(r.config.fdr)), ("dataset threshold", f"{r.config.drift_share:.0%}")]
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Driftline drift report – {escape(r.source_name or '')}</title><style>{CSS}</style></head><body><main>",
        f'<div class="verdict {cls}"><div class="big">{title}</div><div>{escape(r.reason)}</div>',
        f'<div class="meta">data {escape(r.source_name or "–")} · profile {escape(r.profile_name or "–")} '
        f"({escape(r.profile_id)}) · {escape(r.created_at)}</div></div>",
        '<div class="facts">' + "".join(f'<div class="fact"><b>{v}</b>{k}</div>' for k, v in facts) + "</div>",
        (f'<h2>Findings</h2><ul class="findings">{dataset_findings}</ul>' if dataset_findings else ""),
        "<h2>Columns <small>(sorted by effect ÷ threshold)</small></h2>",
        "<table><tr><th>column</th><th>kind</th><th>verdict</th><th>effect / threshold</th><th>p adj.</th>"
        "<th>null share</th><th>why</th></tr>",
        "".join(_row(c) for c in columns), "</table>",
        '<h2>Distributions <span class="legend"><span style="background:' + REF_COLOR + '"></span>reference'
        '<span style="background:' + CUR_COLOR + '"></span>current</span></h2>',
        '<div class="cards">' + "".join(_card(c) for c in columns) + "</div>",
        "</main></body></html>",
    ])

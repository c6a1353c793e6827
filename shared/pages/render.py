"""HTML of the pages, from the dataclasses of `shared.pages.data`. Plain string templates: every value
goes through `html.escape`, every link through `Links`, which carries the function key (`?code=`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from shared.pages import charts
from shared.pages.data import ModelPage, Overview, RunPage, RunSummary, TestReport

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2733;margin:0;background:#f5f7fa}
header{background:#1d2733;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:baseline}
header b{font-size:16px}header a{color:#cfe3f7;text-decoration:none}
main{max-width:1240px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:22px;margin:6px 0 4px}h2{font-size:17px;margin:26px 0 10px}h3{font-size:14px;margin:0 0 4px}
a{color:#1f5f99}.muted{color:#5d6b79;font-size:12px}code{font-size:12px;background:#eef2f6;padding:0 4px;border-radius:3px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e3e8ee;text-align:left;vertical-align:top}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff;background:#95a5a6}
.s-succeeded,.s-passed{background:#2e8b57}.s-failed,.s-error,.s-drift{background:#c0392b}.s-rejected{background:#d35400}
.s-production{background:#2e8b57}.s-canary{background:#e8743b}.s-candidate{background:#2874a6}
.s-running{background:#2874a6}.s-waiting{background:#b7950b}.s-skipped,.s-pending{background:#7f8c8d}
.facts{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0}
.fact{background:#fff;border-radius:6px;padding:8px 14px;box-shadow:0 1px 2px #0001;min-width:150px}
.fact b{display:block;font-size:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.card{background:#fff;border-radius:6px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.panel{background:#fff;border-radius:6px;padding:10px 12px;box-shadow:0 1px 2px #0001;overflow-x:auto}
.error{background:#fff;border-left:6px solid #c0392b;padding:14px 18px;border-radius:6px;box-shadow:0 1px 2px #0001}
pre{white-space:pre-wrap;font-size:12px;margin:0}
"""


@dataclass(frozen=True)
class Links:
    """Paths of the pages and API routes, each carrying the function key when one was given."""

    code: str | None = None
    prefix: str = "/api"

    def _href(self, path: str) -> str:
        query = f"?{urlencode({'code': self.code})}" if self.code else ""
        return escape(f"{self.prefix}/{path}{query}")

    def overview(self) -> str:
        return self._href("pages")

    def run(self, run_id: str) -> str:
        return self._href(f"pages/runs/{quote(run_id, safe='')}")

    def model(self, model: str) -> str:
        return self._href(f"pages/models/{quote(model, safe='')}")

    def report(self, model: str, report: str) -> str:
        return self._href(f"pages/reports/{quote(model, safe='')}/{quote(report, safe='')}")

    def api_run(self, run_id: str) -> str:
        return self._href(f"runs/{quote(run_id, safe='')}")

    def api_model(self, model: str) -> str:
        return self._href(f"models/{quote(model, safe='')}")

    def api_lineage(self, model: str) -> str:
        return self._href(f"models/{quote(model, safe='')}/lineage")


def page(title: str, body: str, links: Links) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · Driftline</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head><body>'
            f'<header><b>Driftline</b><a href="{links.overview()}">Overview</a></header>'
            f'<main>{body}</main></body></html>')


def error_page(status: int, body: dict[str, Any], links: Links) -> str:
    message = str(body.get("error") or "error")
    extra = f'<p class="muted">correlation id <code>{escape(str(body["correlation_id"]))}</code></p>' \
        if body.get("correlation_id") else ""
    return page(f"{status}", f'<h1>{status}</h1><div class="error"><p>{escape(message)}</p>{extra}'
                f'<p><a href="{links.overview()}">Back to the overview</a></p></div>', links)


def badge(status: str) -> str:
    return f'<span class="badge s-{escape(status)}">{escape(status)}</span>'


def usd(value: float) -> str:
    """Dollars with two significant digits below a cent ($0.0027, $0.000045), else cents."""
    if value <= 0:
        return "$0"
    if value < 0.01:
        return f"${value:.{1 - math.floor(math.log10(value))}f}"
    return f"${value:,.2f}"


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def test_time(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def metric(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def short(commit: str | None) -> str:
    return f"<code>{escape(commit[:10])}</code>" if commit else '<span class="muted">–</span>'


# -- overview -----------------------------------------------------------------------------------

def overview_page(data: Overview, links: Links) -> str:
    parts = ["<h1>Overview</h1>", '<p class="muted">What serves, what ran, how the data drifts, what it cost.</p>',
             "<h2>What serves</h2>", _serving_table(data, links), "<h2>Recent runs</h2>",
             _runs_table(data.runs, links), "<h2>Drift over time</h2>"]
    for history in data.drift:
        parts.append(f'<h3><a href="{links.model(history.model)}">{escape(history.model)}</a> · '
                     f'{len(history.reports)} report(s)</h3>')
        if not history.features:
            parts.append('<p class="muted">No drift report yet: upload a production batch to '
                         '<code>datalake/incoming/</code>.</p>')
            continue
        latest = history.reports[-1]
        parts.append(f'<p class="muted">latest: <a href="{links.report(history.model, latest["name"])}">'
                     f'{escape(latest["at"])}</a> · {escape(latest["reason"])}. Effect size per report; dashed: '
                     f'threshold; red: drifted.</p><div class="cards">')
        for series in history.features:
            parts.append(f'<div class="card"><h3>{escape(series.feature)} <span class="muted">'
                         f'{escape(series.effect_name)}</span></h3>{charts.drift_sparkline(series)}</div>')
        parts.append("</div>")
    timers = data.timers
    parts.append("<h2>Driftline's own timers</h2>")
    parts.append(f'<div class="facts"><div class="fact"><b>{usd(timers.usd_per_month)}</b>a month, '
                 f'{timers.executions_per_month:,.0f} executions</div></div>')
    rows = "".join(f'<tr><td>{escape(t.function)}</td><td><code>{escape(t.schedule)}</code></td>'
                   f'<td class="num">{t.executions_per_month:,.1f}</td><td class="num">{usd(t.usd_per_month)}</td></tr>'
                   for t in timers.timers)
    parts.append(f"<table><tr><th>timer</th><th>schedule (NCRONTAB)</th><th>executions a month</th>"
                 f"<th>cost a month</th></tr>{rows}</table>")
    parts.append(_rates_note(data.rates))
    return page("Overview", "".join(parts), links)


def _rates_note(rates: Any) -> str:
    return (f'<p class="muted">Estimated at Flex Consumption on-demand list prices (settings DRIFTLINE_COST_*): '
            f'{rates.instance_memory_mb} MB instances, ${rates.gb_second_usd} per GB-s, '
            f'${rates.million_executions_usd} per million executions, at least 1 s per execution; Azure ML at '
            f'${rates.azureml_vm_hour_usd} per VM hour. Free grants are not subtracted.</p>')


def _serving_table(data: Overview, links: Links) -> str:
    rows = []
    for s in data.models:
        if s.version is None:
            rows.append(f'<tr><td><a href="{links.model(s.model)}">{escape(s.model)}</a></td>'
                        f'<td colspan="5" class="muted">nothing serves yet</td></tr>')
            continue
        canary = f"v{s.canary['version']} at {s.canary.get('percent')}%" if s.canary else "–"
        run = f'<a href="{links.run(s.run_id)}">{escape(s.run_id[:12])}</a>' if s.run_id else "–"
        rows.append(f'<tr><td><a href="{links.model(s.model)}">{escape(s.model)}</a></td><td>v{s.version}</td>'
                    f'<td>{short(s.training_commit)}</td><td>{short(s.inference_commit)}</td><td>{run}</td>'
                    f'<td>{escape(canary)}</td></tr>')
    return ("<table><tr><th>model</th><th>production</th><th>trained from</th><th>inference code</th>"
            f"<th>run</th><th>canary</th></tr>{''.join(rows)}</table>")


def _runs_table(summaries: tuple[RunSummary, ...], links: Links) -> str:
    if not summaries:
        return '<p class="muted">No run yet.</p>'
    rows = "".join(
        f'<tr><td><a href="{links.run(r.run_id)}">{escape(r.run_id[:12])}</a></td><td>{badge(r.status)}</td>'
        f'<td>{escape(r.model)}</td><td>{escape(r.plan)}</td><td>{escape(r.trigger)}</td>'
        f'<td>{escape(r.created[:19].replace("T", " "))}</td><td class="num">{seconds(r.duration_s)}</td>'
        f'<td class="num">{usd(r.cost_usd)}</td><td class="muted">{escape(r.reason[:140])}</td></tr>'
        for r in summaries)
    return ("<table><tr><th>run</th><th>status</th><th>model</th><th>plan</th><th>trigger</th><th>started</th>"
            f"<th>duration</th><th>cost</th><th>reason</th></tr>{rows}</table>")


# -- run ----------------------------------------------------------------------------------------

def run_page(data: RunPage, links: Links) -> str:
    s, timeline = data.summary, data.timeline
    parts = [f'<h1>Run <code>{escape(s.run_id)}</code> {badge(s.status)}</h1>',
             f'<p>{escape(s.reason)}</p>',
             f'<div class="facts"><div class="fact"><b>{escape(s.plan)}</b>plan</div>'
             f'<div class="fact"><b><a href="{links.model(s.model)}">{escape(s.model)}</a></b>model</div>'
             f'<div class="fact"><b>{seconds(s.duration_s)}</b>from start to last change</div>'
             f'<div class="fact"><b>{usd(data.cost.total_usd)}</b>estimated cost</div></div>']
    related = [f'<a href="{links.api_run(s.run_id)}">run record (JSON)</a>']
    if data.report is not None:
        related.append(f'<a href="{links.report(*data.report)}">the drift report that started it</a>')
    if data.version is not None:
        related.append(f'<a href="{links.model(s.model)}#v{int(data.version)}">version {int(data.version)} and its '
                       f'lineage</a>')
    related.append(f'<a href="{links.api_lineage(s.model)}">lineage of what serves (JSON)</a>')
    parts.append(f'<p>{" · ".join(related)}</p>')
    trigger = timeline.get("trigger") or {}
    parts.append(f'<p class="muted">trigger: <code>{escape(json.dumps(trigger, sort_keys=True)[:400])}</code></p>')
    parts.append("<h2>Timeline</h2>")
    parts.append(f'<div class="panel">{charts.step_timeline(timeline["steps"], s.created)}</div>')
    parts.append("<h2>Steps</h2>")
    costs = {c.step: c for c in data.cost.steps}
    rows = []
    for step in timeline["steps"]:
        priced = costs.get(step["step"])
        usage = step.get("usage")
        compute = "–"
        if usage:
            compute = (f'{usage.get("cpu_s", 0):.1f} s CPU, {usage.get("peak_mb", 0):.0f} MB peak'
                       + (f'; sandbox {usage.get("child_cpu_s", 0):.1f} s CPU, {usage.get("child_peak_mb", 0):.0f} MB'
                          if usage.get("children") else ""))
        rows.append(
            f'<tr><td>{escape(step["step"])}</td><td>{badge(str(step["status"]))}</td>'
            f'<td>{escape(str(step.get("started") or "")[:19].replace("T", " "))}</td>'
            f'<td class="num">{seconds(step.get("duration_s"))}</td><td class="num">{step.get("attempts", 0)}</td>'
            f'<td>{escape(compute)}</td>'
            f'<td class="num">{usd(priced.total_usd) if priced else "–"}</td>'
            f'<td class="muted">{escape(str(step.get("reason") or "")[:400])}</td></tr>')
    parts.append("<table><tr><th>step</th><th>status</th><th>started</th><th>duration</th><th>attempts</th>"
                 f"<th>compute</th><th>cost</th><th>reason</th></tr>{''.join(rows)}</table>")
    if data.cost.unmeasured:
        parts.append(f'<p class="muted">Not measured (priced at the minimum): {escape(", ".join(data.cost.unmeasured))}'
                     f'.</p>')
    if data.gates:
        parts.append("<h2>Gates</h2>")
        gate_rows = "".join(f'<tr><td>{escape(str(g.get("name")))}</td><td>{badge(str(g.get("outcome")))}</td>'
                            f'<td class="muted">{escape(str(g.get("detail") or ""))}</td></tr>' for g in data.gates)
        parts.append(f"<table><tr><th>gate</th><th>outcome</th><th>detail</th></tr>{gate_rows}</table>")
    parts.append("<h2>Tests</h2>")
    parts.append("".join(_tests(report) for report in data.tests) or
                 '<p class="muted">This run ran no repository tests.</p>')
    return page(f"Run {s.run_id[:12]}", "".join(parts), links)


def _tests(report: TestReport) -> str:
    counts = report.summary
    head = (f'<h3>{escape(report.kind)} tests ({escape(report.step)} step): {counts.get("passed") or 0} passed, '
            f'{counts.get("failed") or 0} failed, {counts.get("errors") or 0} errors, '
            f'{counts.get("skipped") or 0} skipped</h3>')
    if report.problem:
        return head + f'<p class="muted">{escape(report.problem)}</p>'
    rows = "".join(f'<tr><td><code>{escape(case.name)}</code></td><td>{badge(case.outcome)}</td>'
                   f'<td class="num">{test_time(case.seconds)}</td><td class="muted">{escape(case.message)}</td></tr>'
                   for case in report.cases)
    return head + f"<table><tr><th>test</th><th>outcome</th><th>time</th><th>message</th></tr>{rows}</table>"


# -- model --------------------------------------------------------------------------------------

def model_page(data: ModelPage, links: Links) -> str:
    overview, model = data.overview, data.overview["model"]
    serving = data.serving
    parts = [f"<h1>Model {escape(model)}</h1>"]
    if serving.version is None:
        parts.append('<p class="muted">Nothing serves yet.</p>')
    else:
        parts.append(f'<div class="facts"><div class="fact"><b>v{serving.version}</b>in production since '
                     f'{escape(str(serving.since or "")[:19].replace("T", " "))}</div>'
                     f'<div class="fact"><b>{short(serving.training_commit)}</b>trained from</div>'
                     f'<div class="fact"><b>{short(serving.inference_commit)}</b>inference code</div></div>')
    parts.append(f'<p><a href="{links.api_model(model)}">versions (JSON)</a> · '
                 f'<a href="{links.api_lineage(model)}">lineage (JSON)</a></p>')
    parts.append("<h2>Versions</h2>")
    rows = []
    for version in reversed(overview["versions"]):
        metrics = (version.get("metrics") or {}).get("holdout") or {}
        shown = ", ".join(f"{k} {metric(v)}" for k, v in sorted(metrics.items())
                          if isinstance(v, (int, float)) and not isinstance(v, bool))
        run = version.get("run_id")
        rows.append(f'<tr id="v{int(version["version"])}"><td>v{int(version["version"])}</td>'
                    f'<td>{" ".join(badge(a) for a in version.get("aliases") or [])}</td>'
                    f'<td>{escape(str(version.get("committed_at") or "")[:19].replace("T", " "))}</td>'
                    f'<td>{short(version.get("commit"))}</td><td><code>{escape(str(version.get("data_version") or "–")[:16])}</code></td>'
                    f'<td>{escape(shown)}</td>'
                    f'<td>{f"""<a href="{links.run(run)}">{escape(run[:12])}</a>""" if run else "–"}</td></tr>')
    parts.append("<table><tr><th>version</th><th>aliases</th><th>registered</th><th>commit</th><th>data</th>"
                 f"<th>holdout metrics</th><th>run</th></tr>{''.join(rows)}</table>")
    parts.append("<h2>Alias history</h2>")
    history = overview.get("history") or []
    if history:
        hrows = "".join(
            f'<tr><td>{escape(str(h.get("at") or "")[:19].replace("T", " "))}</td><td>{escape(str(h.get("alias")))}</td>'
            f'<td>{"v" + str(h["from"]) if h.get("from") is not None else "–"} → '
            f'{"v" + str(h["to"]) if h.get("to") is not None else "removed"}{" (rollback)" if h.get("rollback") else ""}'
            f'</td><td>{escape(str(h.get("by") or ""))}</td>'
            f'<td>{f"""<a href="{links.run(h["run_id"])}">{escape(h["run_id"][:12])}</a>""" if h.get("run_id") else "–"}'
            f'</td><td class="muted">{escape(str(h.get("why") or ""))}</td></tr>' for h in history)
        parts.append(f"<table><tr><th>when</th><th>alias</th><th>move</th><th>by</th><th>run</th><th>why</th></tr>"
                     f"{hrows}</table>")
    else:
        parts.append('<p class="muted">No alias has moved yet.</p>')
    parts.append("<h2>Lineage of what serves</h2>")
    parts.append(_lineage(data.lineage, links))
    parts.append("<h2>Drift reports</h2>")
    if data.reports:
        items = "".join(f'<li><a href="{links.report(model, r["name"])}">{escape(r["at"])}</a> '
                        f'<span class="muted">{escape(r["name"])}</span></li>' for r in data.reports)
        parts.append(f"<ul>{items}</ul>")
    else:
        parts.append('<p class="muted">No drift report yet.</p>')
    return page(f"Model {model}", "".join(parts), links)


def _lineage(lineage: dict[str, Any] | None, links: Links) -> str:
    if lineage is None:
        return '<p class="muted">Nothing serves, so there is no lineage to show.</p>'
    code = lineage.get("code") or {}
    data = lineage.get("data") or {}
    files = code.get("files") or {}
    run = lineage.get("run_id")
    rows = [
        ("run", f'<a href="{links.run(run)}">{escape(run)}</a>' if run else "–"),
        ("trigger", f'<code>{escape(json.dumps(lineage.get("trigger") or {}, sort_keys=True)[:300])}</code>'),
        ("commit", short(code.get("commit"))),
        ("repository", escape(str(code.get("repository") or code.get("repo") or "–"))),
        ("entry point", escape(str(code.get("entry_point") or "–"))),
        ("snapshot", f'<code>{escape(str(code.get("snapshot") or "–")[:24])}</code>'),
        ("files that trained", "<br>".join(f"<code>{escape(str(path))}</code> <span class=\"muted\">sha256 "
                                           f"{escape(str(digest)[:16])}…</span>"
                                           for path, digest in sorted(files.items())) or "–"),
        ("data", escape(f'version {data.get("version")}, {data.get("rows")} rows from '
                        f'{len(data.get("blobs") or [])} file(s)')),
        ("parameters", f'<code>{escape(json.dumps(lineage.get("params") or {}, sort_keys=True)[:300])}</code>'),
    ]
    table = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    blobs = "".join(f'<li><code>{escape(str(b.get("name")))}</code> <span class="muted">{escape(str(b.get("rows", "")))} rows'
                    f'</span></li>' for b in (data.get("blobs") or [])[:20])
    return f"<table>{table}</table>" + (f'<p class="muted">data files:</p><ul>{blobs}</ul>' if blobs else "")

"""The pages over MemoryStorage after a real run of the chain: what each page's data holds, what its
HTML shows, that links carry the function key, and that bad ids answer 400 / 404 pages."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import pandas as pd
import pytest

from shared.chain import runs
from shared.events import lake
from shared.model import registry
from shared.pages import charts, data, render
from shared.repo import junit
from shared.platform import context, names
from shared.repo.junit import JUnitError


def drift_reports(chain, frame: pd.DataFrame) -> list[str]:
    """Two real drift reports of the chain's model against its production profile: like, then shifted."""
    settings = context.settings()
    profile = registry.load_profile(chain.storage, chain.model, registry.resolve(chain.storage, chain.model, "production"))
    features = frame.drop(columns=["label"])
    shifted = features.copy()
    for column in shifted.select_dtypes("number").columns:
        shifted[column] = shifted[column] * 3 + 5
    names_ = []
    for minute, part in ((1, features), (2, shifted)):
        import io
        check = lake.check_drift(chain.storage, settings, profile, io.BytesIO(part.to_csv(index=False).encode()),
                                 source=f"batch-{minute}.csv", now=datetime(2026, 12, 1, 12, minute, tzinfo=timezone.utc))
        names_.append(check.report.split("/", 1)[1])
    return names_


@pytest.fixture
def ran(chain, labeled_frame):
    """A succeeded data run to production, and two drift reports after it."""
    run_id = chain.start([chain.upload(labeled_frame.iloc[:800], "part-1.csv")])
    chain.pump(run_id)
    assert chain.run(run_id)["status"] == "succeeded"
    return run_id, drift_reports(chain, labeled_frame.iloc[800:1200])


class Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])


def hrefs(html: str) -> list[str]:
    parser = Anchors()
    parser.feed(html)
    return parser.hrefs


def test_every_measured_step_of_a_run_records_its_compute(chain, ran):
    run_id, _ = ran
    steps = chain.run(run_id)["steps"]
    for name in ("fetch", "retrain", "register", "test", "deploy"):
        usage = steps[name]["usage"]
        assert set(usage) == {"wall_s", "cpu_s", "peak_mb", "child_wall_s", "child_cpu_s", "child_peak_mb", "children"}
        assert usage["wall_s"] >= 0 and usage["cpu_s"] >= 0 and usage["peak_mb"] > 0
    assert "usage" not in steps["approve"]  # skipped: no worker ran it


def test_page_data_of_the_overview(chain, ran):
    run_id, reports = ran
    overview = data.overview(chain.storage, context.settings())
    serving = next(s for s in overview.models if s.model == chain.model)
    assert serving.version == 1 and serving.run_id == run_id
    assert [r.run_id for r in overview.runs][:1] == [run_id]
    assert overview.runs[0].cost_usd > 0 and overview.runs[0].unmeasured == ()
    history = next(h for h in overview.drift if h.model == chain.model)
    assert [r["name"] for r in history.reports] == reports
    assert [r["dataset_drift"] for r in history.reports] == [False, True]
    numeric = [s for s in history.features if any(p.drifted for p in s.points)]
    assert numeric and all(len(s.points) == 2 and not s.points[0].drifted for s in numeric)
    assert {t.function for t in overview.timers.timers} == {"timer_drift", "timer_retrain", "timer_sweep",
                                                             "timer_cleanup"}


def test_overview_page_shows_what_serves_runs_drift_and_cost_with_the_key_in_links(chain, ran, get):
    run_id, reports = ran
    response = get("page_overview")
    html = response.get_body().decode()
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert chain.model in html and f"{run_id[:12]}" in html and "succeeded" in html
    assert html.count('<svg class="spark"') >= 2 and "Driftline's own timers" in html
    links = hrefs(html)
    assert f"/api/pages/runs/{run_id}?code=key-1" in links
    assert f"/api/pages/models/{chain.model}?code=key-1" in links
    assert f"/api/pages/reports/{chain.model}/{reports[-1]}?code=key-1" in links
    assert all(link.endswith("?code=key-1") for link in links)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "a page loads nothing from elsewhere"


def test_run_page_shows_the_timeline_steps_cost_and_links(chain, ran, get):
    run_id, _ = ran
    page = data.run_page(chain.storage, context.settings(), run_id)
    assert [s["step"] for s in page.timeline["steps"]] == ["fetch", "retrain", "register", "test", "approve", "deploy"]
    assert page.version == 1 and page.cost.executions == 5 and page.cost.total_usd == page.summary.cost_usd
    assert [g["name"] for g in page.gates] == ["artifact_loads", "scoring_contract", "quality", "latency"]
    html = get("page_run", run_id=run_id).get_body().decode()
    assert '<svg class="timeline"' in html and "MB peak" in html and "artifact_loads" in html
    links = hrefs(html)
    assert f"/api/pages/models/{chain.model}?code=key-1#v1" in links  # the key in the query, before the anchor
    assert f"/api/runs/{run_id}?code=key-1" in links and f"/api/models/{chain.model}/lineage?code=key-1" in links


def test_run_page_links_the_drift_report_that_started_the_run(chain, ran, get):
    _, reports = ran
    run_id = chain.start([])
    record = chain.run(run_id)
    import json

    first = json.loads(record["first_message"])
    first["payload"] = {"report_html": f"{names.REPORTS}/{chain.model}/{reports[-1]}.html"}
    chain.storage.update_json(names.RUNS, runs.run_blob(run_id), lambda r: {**r, "first_message": json.dumps(first)})
    html = get("page_run", run_id=run_id).get_body().decode()
    assert f"/api/pages/reports/{chain.model}/{reports[-1]}?code=key-1" in hrefs(html)


def test_run_page_lists_the_repository_tests_from_the_junit_report(chain, repo, push, get):
    repo.commit("a failing test", {"tests/unit/test_broken.py": "def test_the_new_feature_is_positive():\n"
                                                                "    assert -1 > 0\n"})
    run_id = push("training")
    assert chain.pump(run_id) == ["fetch", "unit_test"]
    page = data.run_page(chain.storage, context.settings(), run_id)
    (report,) = page.tests
    assert report.kind == "unit" and report.problem is None and report.summary["failed"] == 1
    failed = [case for case in report.cases if case.outcome == "failed"]
    assert [case.name for case in failed] == ["tests.unit.test_broken::test_the_new_feature_is_positive"]
    assert "assert -1 > 0" in failed[0].message and len(report.cases) == report.summary["passed"] + 1
    assert chain.run(run_id)["steps"]["unit_test"]["usage"]["children"] == 1  # pytest ran in the sandbox
    html = get("page_run", run_id=run_id).get_body().decode()
    assert "test_the_new_feature_is_positive" in html and "sandbox" in html and "rejected" in html


def test_a_junit_report_gone_is_named_not_fatal(chain, repo, push, get):
    repo.commit("a failing test", {"tests/unit/test_broken.py": "def test_no():\n    assert False\n"})
    run_id = push("training")
    assert chain.pump(run_id) == ["fetch", "unit_test"]
    blob = chain.run(run_id)["steps"]["unit_test"]["outputs"]["unit_tests"]["junit"]
    chain.storage.delete(names.RUNS, blob.split("/", 1)[1])
    (report,) = data.run_page(chain.storage, context.settings(), run_id).tests
    assert report.problem == f"{blob} is gone (retention)"


def test_model_page_shows_versions_alias_history_lineage_and_reports(chain, ran, get):
    run_id, reports = ran
    page = data.model_page(chain.storage, chain.model)
    assert [v["version"] for v in page.overview["versions"]] == [1] and page.lineage["run_id"] == run_id
    assert [r["name"] for r in page.reports] == list(reversed(reports))
    html = get("page_model", name=chain.model).get_body().decode()
    assert 'id="v1"' in html and "production" in html and "accuracy" in html and "Alias history" in html
    assert f"/api/pages/runs/{run_id}?code=key-1" in hrefs(html)


def test_drift_reports_are_served_as_stored(chain, ran, get):
    _, reports = ran
    response = get("page_drift_report", name=chain.model, report=reports[-1])
    stored = chain.storage.get_bytes(names.REPORTS, f"{chain.model}/{reports[-1]}.html")[0]
    assert response.status_code == 200 and response.get_body() == stored and response.mimetype == "text/html"


@pytest.mark.parametrize(("function", "route", "status", "says"), [
    ("page_run", {"run_id": "../x"}, 400, "is not valid"),
    ("page_run", {"run_id": "nosuchrun"}, 404, "is unknown"),
    ("page_model", {"name": "Bad Name!"}, 400, "model name"),
    ("page_model", {"name": "nosuchmodel"}, 404, "is unknown"),
    ("page_drift_report", {"name": "nosuchmodel", "report": "../../x"}, 400, "is not valid"),
    ("page_drift_report", {"name": "nosuchmodel", "report": "20260101T000000Z-x"}, 404, "is unknown"),
])
def test_bad_ids_answer_an_html_page_with_the_reason(chain, get, function, route, status, says):
    response = get(function, **route)
    html = response.get_body().decode()
    assert response.status_code == status and response.mimetype == "text/html"
    assert says in html and "/api/pages?code=key-1" in hrefs(html)


def test_an_unexpected_error_answers_a_500_page_with_a_correlation_id(chain, get, monkeypatch):
    monkeypatch.setattr(data, "overview", lambda *a: 1 / 0)
    response = get("page_overview")
    assert response.status_code == 500 and "correlation id" in response.get_body().decode()
    assert response.headers["X-Correlation-Id"] in response.get_body().decode()


def test_values_are_escaped(chain, get):
    run_id, _ = runs.start_run(chain.storage, plan="data", model=chain.model, trigger={"kind": "<b>x</b>"},
                               reason='<script>alert("x")</script>')
    html = get("page_run", code="a&b", run_id=run_id).get_body().decode()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert f"/api/pages/models/{chain.model}?code=a%26b" in hrefs(html)


def test_links_without_a_key_carry_none():
    links = render.Links(None)
    assert links.run("abc") == "/api/pages/runs/abc" and links.overview() == "/api/pages"


def test_sparkline_marks_drifted_points_and_the_threshold():
    series = data.FeatureSeries("age", "wasserstein", (
        data.FeaturePoint("r1", "t1", 0.05, 0.1, False), data.FeaturePoint("r2", "t2", 0.4, 0.1, True)))
    svg = charts.drift_sparkline(series)
    assert svg.count("<circle") == 2 and svg.count(charts.DRIFT) == 1 and "stroke-dasharray" in svg


JUNIT = b"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.test_a" name="test_ok" time="0.01"/>
<testcase classname="tests.test_a" name="test_bad" time="0.02"><failure message="assert 1 == 2">trace</failure></testcase>
<testcase classname="tests.test_a" name="test_skip" time="0"><skipped message="later"/></testcase>
</testsuite></testsuites>"""


def test_junit_cases_name_each_test_with_its_outcome():
    assert junit.cases(JUNIT) == [
        junit.Case("tests.test_a::test_ok", "passed", 0.01),
        junit.Case("tests.test_a::test_bad", "failed", 0.02, "assert 1 == 2"),
        junit.Case("tests.test_a::test_skip", "skipped", 0.0, "later"),
    ]
    with pytest.raises(JUnitError, match="DOCTYPE"):
        junit.cases(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><testsuite/>')
    with pytest.raises(JUnitError, match="well-formed"):
        junit.cases(b"<testsuite><testcase>")

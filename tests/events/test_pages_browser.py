"""The pages in headless Chromium, against the real app on devhost and its own Azurite after real runs.

The app watches a git repository made from examples/churn (DRIFTLINE_CODE_SOURCE=git:). The sample
labeled data trains version 1 from the repository's code; a production batch like it and a drifted one
make two drift reports (the second waits for labels; the new segment's labeled rows then retrain:
version 2); a training commit runs the repository's unit
tests, trains and runs its integration tests (version 3); a commit with a failing unit test is rejected.
The test opens the overview with a function key (`?code=`), follows its links to a run, to the drift
report that started one and to the model, checks every link carries the key, and screenshots the
pages, checking they are not blank (`DRIFTLINE_UPDATE_SCREENSHOTS=1` keeps them in docs/screenshots/,
which the README shows)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import requests

from shared.chain import runs
from shared.chain.states import FINAL_RUN
from shared.platform import names, signatures
from shared.platform.azure_storage import connect
from shared.platform.settings import TIMER_SCHEDULES, StorageConnection
from tests.helpers.app_host import app_on_devhost
from tests.helpers.png import chromium, dump_dom, png_pixels, png_size, screenshot
from tests.repo.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, SAMPLES = ROOT / "examples" / "churn", ROOT / "sample_data"
KEY = "local-function-key"
SECRET = "pages-github-secret"
WINDOW = (1280, 1500)
PAGE_BACKGROUND = (0xF5, 0xF7, 0xFA)
HEADER = (0x1D, 0x27, 0x33)
SUCCEEDED = (0x2E, 0x8B, 0x57)
DRIFTED = (0xC0, 0x39, 0x2B)

pytestmark = pytest.mark.skipif(chromium() is None,
                                reason="chromium is not installed (apt-get install -y chromium); CI installs it")


def push(url: str, repo: GitRepo, before: str, files: list[str]) -> str:
    """Deliver the push of HEAD as GitHub would; returns the run id it starts."""
    after = repo.git("rev-parse", "HEAD")
    body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after,
                       "repository": {"full_name": "demo/churn"}, "head_commit": {"id": after},
                       "commits": [{"id": after, "added": [], "modified": files, "removed": []}]}).encode()
    delivery = str(uuid.uuid4())
    response = requests.post(f"{url}/api/hooks/github", data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signatures.sign(SECRET, body)})
    assert response.status_code == 202, response.text
    return response.json()["run_id"]  # derived from the pushed range, not the delivery


def finished(storage, host, run_id: str) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        host.wait_idle(300)
        run = runs.get_run(storage, run_id)
        if run is not None and run["status"] in FINAL_RUN:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture(scope="module")
def app_url(module_azurite, tmp_path_factory):
    connection = module_azurite.endpoints.connection_string
    storage = connect(StorageConnection(connection_string=connection))
    work = tmp_path_factory.mktemp("repo") / "churn"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    repo = GitRepo(work)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "the churn model")
    settings = {
        "AzureWebJobsStorage": connection, "DRIFTLINE_MODEL_NAME": "churn", "DRIFTLINE_CODE_SOURCE": f"git:{work}",
        "DRIFTLINE_GITHUB_SECRET": SECRET, "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0",
        "DRIFTLINE_QUALITY_TOLERANCE": "1", "DRIFTLINE_LATENCY_BUDGET_MS": "60000",  # gates are not under test here
        # the default schedules, as the timers' cost on the overview shows them (scheduled drift and retrain stay off)
        **{setting: default for setting, default in TIMER_SCHEDULES.values()},
    }
    with app_on_devhost(tmp_path_factory.mktemp("host"), settings, "pages") as host:
        for name, local in (("labeled/base/customers.csv", "labeled/customers.csv"),
                            ("incoming/monday/batch.csv", "incoming/batch-ok.csv"),
                            ("incoming/tuesday/batch.csv", "incoming/batch-drifted.csv"),
                            # the drift waits for labels; these answer it: version 2
                            ("labeled/new-segment/customers.csv", "labeled/new-segment/customers.csv")):
            storage.put_bytes(names.DATALAKE, name, (SAMPLES / local).read_bytes())
            host.wait_idle(300)
        before = repo.git("rev-parse", "HEAD")
        config = (work / "driftline.toml").read_text().replace("n_estimators = 200", "n_estimators = 300")
        repo.commit("more trees", {"driftline.toml": config})
        assert finished(storage, host, push(host.url, repo, before, ["driftline.toml"]))["status"] == "succeeded"
        before = repo.git("rev-parse", "HEAD")
        repo.commit("a failing test", {"tests/unit/test_broken.py": "def test_the_new_feature_is_positive():\n"
                                                                    "    assert -1 > 0\n"})
        rejected = finished(storage, host, push(host.url, repo, before, ["tests/unit/test_broken.py"]))
        assert rejected["status"] == "rejected"
        yield host.url


class Page(HTMLParser):
    """A page as Chromium rendered it: its title, its links, its text."""

    def __init__(self, dom: str):
        super().__init__()
        self.hrefs: list[str] = []
        self.title = ""
        self.text = ""
        self._in_title = False
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        self._in_title = tag == "title" and not self.title  # the page's, not an SVG element's

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text += data + " "

    def handle_endtag(self, tag):
        self._in_title = False


def check_screenshot(data: bytes, *, colours: list[tuple[tuple[int, int, int], float]]) -> None:
    """Not blank: many colours, none covering most of it, the page's own colours each on a share."""
    assert png_size(data) == WINDOW
    rgb = png_pixels(data)[..., :3].reshape(-1, 3).astype(np.uint32)
    values, counts = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2], return_counts=True)
    share = dict(zip(values.tolist(), (counts / counts.sum()).tolist()))
    assert len(values) >= 100, "too few colours: blank page or no text and charts drawn"
    assert counts.max() / counts.sum() < 0.85, "one colour covers most of the picture"
    for colour, least in [(PAGE_BACKGROUND, 0.01), (HEADER, 0.005), *colours]:
        assert share.get(colour[0] << 16 | colour[1] << 8 | colour[2], 0.0) > least, f"too little #{bytes(colour).hex()}"


def test_walk_the_pages_following_their_links(app_url, tmp_path):
    profile = tmp_path / "profile"

    def open_page(path: str) -> Page:
        page = Page(dump_dom(app_url + path, profile))
        assert page.hrefs and all(f"code={KEY}" in href for href in page.hrefs), path
        return page

    overview_path = f"/api/pages?code={KEY}"
    overview = open_page(overview_path)
    assert overview.title == "Overview · Driftline"
    assert "v3" in overview.text and "timer_sweep" in overview.text
    shots = {"overview": (overview_path, [(SUCCEEDED, 0.0003), (DRIFTED, 0.00002)])}  # badges, drifted points

    run_links = list(dict.fromkeys(href for href in overview.hrefs if href.startswith("/api/pages/runs/")))
    assert len(run_links) == 4  # seed, drift retrain, training push, rejected push
    pages = {link: open_page(link) for link in run_links}
    assert all(page.title.startswith("Run ") for page in pages.values())
    trained = next(link for link, page in pages.items() if "integration tests (test step)" in page.text)
    rejected = next(link for link, page in pages.items() if "test_the_new_feature_is_positive" in page.text)
    drifted = next(link for link, page in pages.items() if "the drift report that started it" in page.text)
    assert "unit tests (unit_test step)" in pages[trained].text and "sandbox" in pages[trained].text
    assert "rejected" in pages[rejected].text
    shots["run"] = (trained, [(SUCCEEDED, 0.001)])  # badges and timeline bars
    shots["run-rejected"] = (rejected, [(DRIFTED, 0.0001)])  # the failed test's badge

    report = next(href for href in pages[drifted].hrefs if href.startswith("/api/pages/reports/churn/"))
    assert "tuesday" in report
    assert Page(dump_dom(app_url + report, profile)).title.startswith("Driftline drift report")

    model = next(href for href in pages[trained].hrefs if href.startswith("/api/pages/models/churn"))
    model_page = open_page(model)
    assert model_page.title == "Model churn · Driftline" and "Alias history" in model_page.text
    assert any(href.startswith("/api/pages/reports/churn/") for href in model_page.hrefs)
    shots["model"] = (model.split("#")[0], [(SUCCEEDED, 0.0003)])

    bad = open_page(f"/api/pages/runs/nosuchrun?code={KEY}")
    assert bad.title == "404 · Driftline" and "is unknown" in bad.text

    for name, (path, colours) in shots.items():
        data = screenshot(app_url + path, tmp_path / f"{name}.png", profile, WINDOW)
        check_screenshot(data, colours=colours)
        if os.environ.get("DRIFTLINE_UPDATE_SCREENSHOTS") == "1":
            (ROOT / "docs" / "screenshots").mkdir(exist_ok=True)
            shutil.copyfile(tmp_path / f"{name}.png", ROOT / "docs" / "screenshots" / f"{name}.png")

"""The README's main job, end to end: the demo as `./driftline start --demo` runs it (the app on
devhost in a process of its own, with the example settings; the demo driving it over HTTP, storage,
git and signed webhooks), here on an Azurite of its own and a repository in a temporary folder.

Every step of the demo checks its outcome and stops with a SystemExit naming what went wrong, so this
test fails when any of the README's eight outcomes does not happen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from devtools.azurite import ROOT, free_port
from devtools.demo import demo_settings, run_demo
from devhost.config import load_local_settings
from devtools.start import wait_for_http
from shared.platform import context

pytestmark = pytest.mark.timeout(900)


def test_the_demo_shows_every_outcome_the_readme_promises(module_azurite, tmp_path, monkeypatch, capsys):
    repository = tmp_path / "demo-repo"
    settings = {**demo_settings(repository), "AzureWebJobsStorage": module_azurite.endpoints.connection_string}
    port = free_port()
    log = (tmp_path / "app.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", str(port), "--settings", "local.settings.example.json"],
        cwd=ROOT, env={**os.environ, **settings}, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/api/health", 120, app)
        # The demo signs its pushes with the app's settings: the example file's (as devhost loads it) under these.
        for name, value in {**load_local_settings(ROOT / "local.settings.example.json"), **settings}.items():
            monkeypatch.setenv(name, value)
        context.reset()
        try:
            run_demo(base, repository)
        except SystemExit as stop:
            log.flush()
            pytest.fail(f"the demo stopped: {stop}\n--- app log (tail) ---\n"
                        f"{(tmp_path / 'app.log').read_text(errors='replace')[-4000:]}")
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
        log.close()
        context.reset()
    shown = capsys.readouterr().out
    assert all(f"step {n}/8" in shown for n in range(1, 9)) and "done: version 1 -> 2 on drift -> 3" in shown

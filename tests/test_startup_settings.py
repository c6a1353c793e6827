"""Every setting is checked when the app starts: a bad value stops `./driftline start` naming the setting
and the form expected, is logged at ERROR when the app is indexed (the host's start log in Azure), and
HTTP routes of a misconfigured app answer a JSON 500 that says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import start
from shared.jobs import startup
from shared.platform.errors import SettingsError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]


@pytest.mark.parametrize("name, value, words", [
    ("DRIFTLINE_QUALITY_TOLERANCE", "1%", "must be a number, got '1%'"),
    ("DRIFTLINE_LATENCY_BUDGET_MS", "fast", "must be a number"),
    ("DRIFTLINE_MAX_BODY_BYTES", "1MB", "must be a whole number"),
    ("DRIFTLINE_MAX_JSON_DEPTH", "1", "between 2 and 200"),
    ("DRIFTLINE_DRIFT_CONFIG", '{"fdr": 2}', "not a valid drift configuration"),
    ("DRIFTLINE_DRIFT_CONFIG", '{"no_such_key": 1}', "unknown drift setting 'no_such_key'"),
    ("DRIFTLINE_DRIFT_CONFIG", "[1]", "must be a JSON object"),
    ("DRIFTLINE_SWEEP_SCHEDULE", "*/5 * * * *", "six fields"),
    ("DRIFTLINE_DRIFT_SCHEDULE", "", "six fields"),
])
def test_a_bad_value_is_named_with_the_form_expected(name, value, words):
    with pytest.raises(SettingsError) as caught:
        startup.check({**EXAMPLE, name: value})
    assert str(caught.value).startswith(name) and words in str(caught.value)


def test_the_example_settings_pass_and_a_schedule_must_be_ncrontab():
    assert startup.check(EXAMPLE).model_name == "driftline-model"
    with pytest.raises(SettingsError, match="DRIFTLINE_SWEEP_SCHEDULE must be an NCRONTAB expression"):
        startup.check({**EXAMPLE, "DRIFTLINE_SWEEP_SCHEDULE": "00:05:00"})  # Flex Consumption takes no interval


def test_driftline_start_stops_before_starting_anything(tmp_path, monkeypatch, capsys):
    settings = tmp_path / "local.settings.json"
    shutil.copyfile(ROOT / "local.settings.example.json", settings)
    monkeypatch.setattr(start, "SETTINGS", settings)
    monkeypatch.setenv("DRIFTLINE_QUALITY_TOLERANCE", "1%")

    def must_not_start(*args, **kwargs):
        raise AssertionError("Azurite was started")

    monkeypatch.setattr(start, "Azurite", must_not_start)
    monkeypatch.setattr(start, "is_running", must_not_start)
    assert start.main([]) == 2
    out = capsys.readouterr().out
    assert "not starting: DRIFTLINE_QUALITY_TOLERANCE must be a number, got '1%'" in out


def test_indexing_the_app_logs_the_bad_setting_at_error():
    env = {**os.environ, **EXAMPLE, "DRIFTLINE_QUALITY_TOLERANCE": "1%"}
    result = subprocess.run([sys.executable, "-c", "import function_app; function_app.app.get_functions()"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0  # the app indexes; its invocations fail with the same message
    assert "Driftline settings are invalid" in result.stderr
    assert "DRIFTLINE_QUALITY_TOLERANCE must be a number, got '1%'" in result.stderr
    clean = subprocess.run([sys.executable, "-c", "import function_app"], cwd=ROOT, env={**os.environ, **EXAMPLE},
                           capture_output=True, text=True, timeout=120)
    assert "settings are invalid" not in clean.stderr


def test_http_routes_of_a_misconfigured_app_answer_a_json_500(memory_env, monkeypatch):
    import azure.functions as func

    from functions import api
    from shared.platform import context

    monkeypatch.setenv("DRIFTLINE_QUALITY_TOLERANCE", "1%")
    context.reset()
    request = func.HttpRequest("POST", "http://localhost/api/score", headers={}, body=b'{"records": [{}]}')
    response = api.score(request)
    assert response.status_code == 500 and "misconfigured" in json.loads(response.get_body())["error"]

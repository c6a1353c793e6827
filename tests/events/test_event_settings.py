"""Settings of the event sources, and the blob trigger source chosen when the app is indexed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.platform.settings import SettingsError, blob_source, load_settings

ROOT = Path(__file__).resolve().parents[2]
BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults():
    settings = load_settings(BASE)
    assert settings.blob_source == "LogsAndContainerScan" and settings.ci_checks == ()
    assert (settings.scheduled_drift, settings.scheduled_retrain) == (False, False)
    assert (settings.sweep_enabled, settings.cleanup_enabled) == (True, True)
    assert settings.drift_window_hours == 24.0 and settings.step_max_retries == 2


def test_values():
    settings = load_settings({**BASE, "DRIFTLINE_BLOB_SOURCE": "eventgrid", "DRIFTLINE_CI_CHECKS": " CI , lint ,",
                              "DRIFTLINE_SCHEDULED_DRIFT": "true", "DRIFTLINE_DRIFT_WINDOW_HOURS": "1.5"})
    assert settings.blob_source == "EventGrid" and settings.ci_checks == ("CI", "lint")
    assert settings.scheduled_drift and settings.drift_window_hours == 1.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DRIFTLINE_BLOB_SOURCE", "Polling", "must be one of LogsAndContainerScan, EventGrid"),
        ("DRIFTLINE_SWEEP_ENABLED", "sometimes", "true or false"),
        ("DRIFTLINE_STEP_MAX_RETRIES", "-1", "at least 0"),
        ("DRIFTLINE_DRIFT_WINDOW_HOURS", "0", "at least 0.01"),
    ],
)
def test_bad_values_name_the_setting(name, value, message):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: value})
    assert str(caught.value).startswith(name) and message in str(caught.value)


def test_blob_source_reads_only_its_variable():
    assert blob_source({}) == "LogsAndContainerScan"
    assert blob_source({"DRIFTLINE_BLOB_SOURCE": "EventGrid"}) == "EventGrid"


@pytest.mark.parametrize("source", ["EventGrid", "LogsAndContainerScan"])
def test_blob_triggers_take_the_source_at_indexing(source):
    probe = (
        "import json, function_app\n"
        "print(json.dumps({f.get_function_name(): json.loads(f.get_function_json())['bindings'][0].get('source')"
        " for f in function_app.app.get_functions() if f.get_function_name() in ('on_labeled', 'on_incoming')}))"
    )
    env = {**os.environ, "DRIFTLINE_BLOB_SOURCE": source}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"on_labeled": source, "on_incoming": source}

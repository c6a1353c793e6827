"""Settings: defaults, both storage connection styles, and errors that name the bad setting."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from shared.platform.settings import Settings, SettingsError, load_settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
ROOT = Path(__file__).resolve().parent.parent


def test_defaults():
    settings = load_settings(BASE)
    assert settings.storage.connection_string == "UseDevelopmentStorage=true"
    assert settings.model_name == "driftline-model" and settings.branches == ("main",)
    assert settings.approval_required is False and settings.canary_percent == 0


def test_identity_by_account_name():
    settings = load_settings({"AzureWebJobsStorage__accountName": "stdl123"})
    assert settings.storage.uses_identity
    assert settings.storage.blob_service_uri == "https://stdl123.blob.core.windows.net"
    assert settings.storage.queue_service_uri == "https://stdl123.queue.core.windows.net"


def test_identity_by_service_uris():
    settings = load_settings({
        "AzureWebJobsStorage__blobServiceUri": "https://a.blob.core.windows.net",
        "AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net",
    })
    assert settings.storage.blob_service_uri == "https://a.blob.core.windows.net"


def test_missing_storage_says_what_to_set():
    with pytest.raises(SettingsError, match="AzureWebJobsStorage is not set.*accountName"):
        load_settings({})


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DRIFTLINE_APPROVAL_REQUIRED", "maybe", "must be true or false"),
        ("DRIFTLINE_CANARY_PERCENT", "150", "between 0 and 100"),
        ("DRIFTLINE_CANARY_PERCENT", "ten", "must be a whole number"),
        ("DRIFTLINE_DRIFT_CONFIG", "{oops", "invalid JSON"),
        ("DRIFTLINE_TRAINING_PARAMS", "[1]", "must be a JSON object, got list"),
        ("DRIFTLINE_TRAINING_ENTRY_POINT", "train.py", "package.module:function"),
        ("DRIFTLINE_BRANCHES", " , ", "at least one branch"),
        ("DRIFTLINE_TASK", "forecast", "must be one of auto, classification, regression"),
        ("DRIFTLINE_QUALITY_METRIC", "mape", "must be one of auto, accuracy"),
        ("DRIFTLINE_UNSCORABLE_PRODUCTION", "pass", "must be one of fail, pass-with-warning"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, message: str):
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, name: value})
    assert str(caught.value).startswith(name) and message in str(caught.value)


def test_example_file_lists_valid_settings():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    load_settings(values)


# Set in the example on purpose: local webhook secrets, so a local push can be signed.
LOCAL_VALUES = {"github_secret", "ado_secret"}


def test_example_file_gives_the_code_defaults():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    example, defaults = load_settings(values), load_settings({"AzureWebJobsStorage": values["AzureWebJobsStorage"]})
    differ = [f.name for f in fields(Settings) if f.name not in LOCAL_VALUES
              and getattr(example, f.name) != getattr(defaults, f.name)]
    assert differ == []


def test_example_file_lists_every_setting_the_app_reads():
    code = "".join(p.read_text() for folder in ("shared", "functions") for p in (ROOT / folder).rglob("*.py"))
    read = set(re.findall(r"\bDRIFTLINE_[A-Z0-9_]*[A-Z0-9]\b", code))
    read.discard("DRIFTLINE_STEP_MESSAGE")  # set by the app on Azure ML jobs, not an app setting
    # Set by the app for the user code it runs in the sandbox (shared/repo/sandbox.py), not app settings.
    read = {name for name in read if not name.startswith("DRIFTLINE_SANDBOX_")}
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert sorted(read - set(values)) == []


def test_judging_defaults_and_a_metric_of_the_other_task_is_refused():
    settings = load_settings(BASE)
    assert (settings.task, settings.quality_metric, settings.unscorable_production) == ("auto", "auto", "fail")
    assert load_settings({**BASE, "DRIFTLINE_TASK": "regression", "DRIFTLINE_QUALITY_METRIC": "mae"}).quality_metric == "mae"
    with pytest.raises(SettingsError, match="^DRIFTLINE_QUALITY_METRIC must be auto or a regression metric"):
        load_settings({**BASE, "DRIFTLINE_TASK": "regression", "DRIFTLINE_QUALITY_METRIC": "f1"})
    with pytest.raises(SettingsError, match="^DRIFTLINE_QUALITY_METRIC must be auto or a classification metric"):
        load_settings({**BASE, "DRIFTLINE_TASK": "classification", "DRIFTLINE_QUALITY_METRIC": "rmse"})

"""The CLI against the real app: devhost running function_app on its own Azurite, driven by typer's
CliRunner the way `./driftline <command>` runs it (settings from a local.settings.json file).

With approval required, one module walks the operator's day: upload labeled data and see the run it
started, follow it until it waits for approval, approve it, list runs and models, upload again and
reject, retrain on demand, promote, roll back to any version, and open the latest drift report.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.model import registry
from shared.platform import names
from shared.platform.azure_storage import AzureStorage, connect
from shared.platform.settings import StorageConnection
from tests.cli.conftest import cli_runner, write_settings
from tests.helpers.app_host import app_on_devhost
from tests.helpers.event_data import FEATURES, TARGET, csv_bytes, frame

MODEL = "cli-model"
RUN_ID = re.compile(r"run ([0-9a-f]{32})")


@pytest.fixture(scope="module")
def app_storage(module_azurite) -> tuple[str, AzureStorage]:
    connection = module_azurite.endpoints.connection_string
    return connection, connect(StorageConnection(connection_string=connection))


@pytest.fixture(scope="module")
def host(app_storage, tmp_path_factory) -> Iterator[Any]:
    connection, _ = app_storage
    settings = {
        "AzureWebJobsStorage": connection,
        "DRIFTLINE_MODEL_NAME": MODEL,
        "DRIFTLINE_TARGET_COLUMN": TARGET,
        "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0",
        "DRIFTLINE_APPROVAL_REQUIRED": "true",
        # the CLI signs its decision as the app's approval links are signed, for these approvers
        "DRIFTLINE_APPROVAL_SECRET": "cli-test-approval-secret",
        "DRIFTLINE_APPROVERS": f"ops,{getpass.getuser()}",
        "DRIFTLINE_QUALITY_TOLERANCE": "1",
        "DRIFTLINE_LATENCY_BUDGET_MS": "60000",
    }
    with app_on_devhost(tmp_path_factory.mktemp("host"), settings, "cli") as running:
        yield running


@pytest.fixture(scope="module")
def settings_file(host, app_storage, tmp_path_factory) -> Path:
    """The CLI's local.settings.json: the same storage as the app, and the app's URL."""
    return write_settings(tmp_path_factory.mktemp("cli") / "local.settings.json",
                          {"AzureWebJobsStorage": app_storage[0], "DRIFTLINE_API_URL": host.url,
                           "DRIFTLINE_MODEL_NAME": MODEL, "DRIFTLINE_TARGET_COLUMN": TARGET})


@pytest.fixture(scope="module")
def cli(settings_file):
    return cli_runner(settings_file)


@pytest.fixture(scope="module")
def first_run(cli, tmp_path_factory) -> str:
    """Labeled data uploaded with the CLI; its run followed until it waits for approval, approved."""
    data = tmp_path_factory.mktemp("data") / "train.csv"
    data.write_bytes(csv_bytes(frame(400, seed=1)))
    uploaded = cli("upload", str(data), "--to", "labeled", "--as", "day1/train.csv")
    assert f"-> {names.DATALAKE}/labeled/day1/train.csv" in uploaded and "retrain:" in uploaded
    run_id = RUN_ID.search(uploaded).group(1)
    followed = cli("follow", run_id, "--interval", "0.3")
    assert "waiting for a person" in followed and "register" in followed and "succeeded" in followed
    approved = cli("approve", run_id, "--reason", "looks good", "--by", "ops")
    assert f"run {run_id} approved; now running, next: deploy" in approved
    done = cli("follow", run_id, "--interval", "0.3")
    assert "succeeded" in done and re.search(r"cost: \$\d+\.\d+ \(\d+ executions, [\d.]+ GB-s", done), done
    listed = cli("runs", "--model", MODEL)
    assert run_id[:8] in listed and "$0.0" in listed  # each run's estimated cost
    return run_id


def test_upload_follow_approve_deploys_version_1(first_run, app_storage):
    assert registry.resolve(app_storage[1], MODEL, "production") == 1


def test_runs_lists_and_filters(cli, first_run):
    listed = cli("runs")
    assert first_run in listed and "succeeded" in listed
    assert first_run in cli("runs", "--status", "succeeded", "--model", MODEL)
    assert "no runs match the filters" in cli("runs", "--status", "failed")
    bad = cli("runs", "--status", "done", code=1)
    assert bad.startswith("error: status 'done' is not a run status") and len(bad.strip().splitlines()) == 1


def test_models_shows_versions_aliases_and_metrics(cli, first_run):
    shown = cli("models")
    assert f"model {MODEL}" in shown and "production" in shown and "holdout.accuracy=" in shown


def test_reject_retrain_promote_and_rollback_to_any_version(cli, first_run, app_storage, tmp_path):
    storage = app_storage[1]
    data = tmp_path / "more.csv"
    data.write_bytes(csv_bytes(frame(400, seed=2)))
    second = RUN_ID.search(cli("upload", str(data), "--as", "day2/more.csv")).group(1)
    assert "waiting for a person" in cli("follow", second, "--interval", "0.3")
    assert f"run {second} rejected; now rejected" in cli("reject", second, "--reason", "not today")
    assert "rejected" in cli("follow", second, code=1)  # a rejected run exits 1
    assert cli("approve", second, code=1).startswith(f"error: run {second} is rejected, not waiting")

    third = RUN_ID.search(cli("retrain", "--reason", "fresh start")).group(1)
    assert "waiting for a person" in cli("follow", third, "--interval", "0.3")
    cli("approve", third)
    assert "succeeded" in cli("follow", third, "--interval", "0.3")
    assert registry.resolve(storage, MODEL, "production") == 3  # v2 (rejected run) was registered, not deployed

    assert "production is v2" in cli("promote", "2", "--reason", "try the rejected one")
    assert cli("promote", "2", code=1).startswith("error: model cli-model v2 is production already")
    assert "production is v1" in cli("rollback", "--to", "1", "--reason", "back to the first")
    assert cli("rollback", "--to", "9", code=1).startswith("error: model cli-model has no committed version 9")
    history = registry.aliases(storage, MODEL)[0]["history"]
    assert [(h["from"], h["to"], h.get("rollback", False)) for h in history if h["alias"] == "production"][-2:] == [
        (3, 2, False), (2, 1, True)]
    # nothing served before v1, and v2 was rolled back from: no previous to go back to
    assert cli("rollback", code=1).startswith("error: model cli-model has no previous version to roll back to")


def test_report_saves_the_latest_drift_report(cli, first_run, app_storage, tmp_path):
    assert cli("report", code=1).startswith("error: model cli-model has no drift report yet")
    batch = tmp_path / "batch.csv"
    batch.write_bytes(csv_bytes(frame(500, seed=5, shift=2.0)[FEATURES]))
    uploaded = cli("upload", str(batch), "--to", "incoming")
    assert "drift:" in uploaded
    drift_run = RUN_ID.search(uploaded).group(1)
    shown = cli("report", "--out", str(tmp_path / "reports"))
    saved = Path(shown.strip().splitlines()[-1])
    assert saved.parent == tmp_path / "reports" and "<html" in saved.read_text().lower()
    assert "drift —" in shown and "no drift" not in shown
    assert "waiting for a person" in cli("follow", drift_run, "--interval", "0.3")
    cli("reject", drift_run, "--reason", "drift run not needed in this test")

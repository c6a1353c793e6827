"""The CLI without the app: clear one-line errors, storage-only commands on Azurite (a large upload
with its progress bar), local training in the sandbox, and the reset of local emulator data."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shared.platform import names
from shared.platform.azure_storage import connect
from shared.platform.settings import StorageConnection
from tests.cli.conftest import cli_runner, write_settings

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def offline(tmp_path):
    """Settings naming an app that is not running and storage nothing connects to."""
    return cli_runner(write_settings(tmp_path / "local.settings.json", {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "DRIFTLINE_API_URL": f"http://127.0.0.1:{closed_port()}"}))


@pytest.mark.parametrize("args", [("runs",), ("follow", "abc123"), ("approve", "abc123"), ("models",),
                                  ("promote", "2"), ("rollback", "--to", "1"), ("retrain",)])
def test_an_app_that_is_not_running_is_one_line(offline, args):
    output = offline(*args, code=1)
    assert output.startswith("error: cannot reach the app at http://127.0.0.1:")
    assert "./driftline start" in output and len(output.strip().splitlines()) == 1


def test_bad_settings_are_one_line(tmp_path):
    bad = write_settings(tmp_path / "bad.json", {"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                                 "DRIFTLINE_API_URL": "localhost:7071"})
    output = cli_runner(bad)("runs", code=1)
    assert output.strip() == "error: DRIFTLINE_API_URL must be an http(s) URL, got 'localhost:7071'."
    (tmp_path / "broken.json").write_text("{not json")
    assert cli_runner(tmp_path / "broken.json")("runs", code=1).startswith("error: ")
    assert "does not exist" in cli_runner(tmp_path / "missing.json")("runs", code=1)


def test_train_local_runs_the_repository_entry_point_in_the_sandbox(offline):
    output = offline("train", "--local", str(ROOT / "sample_data/labeled/customers.csv"),
                     "--repo", str(ROOT / "examples/churn"))
    assert "training training.train:train on" in output
    assert "holdout.accuracy" in output and "files the training imported:" in output
    assert "training/train.py" in output


def test_train_local_names_a_missing_target(offline):
    output = offline("train", "--local", str(ROOT / "sample_data/incoming/batch-ok.csv"),
                     "--repo", str(ROOT / "examples/churn"), code=1)
    assert output.strip().startswith("error: ") and "would be quarantined: missing required column(s) label" in output


def test_train_local_needs_a_driftline_toml(offline, tmp_path):
    output = offline("train", "--local", str(ROOT / "sample_data/labeled/customers.csv"), "--repo", str(tmp_path),
                     code=1)
    assert output.startswith("error: ") and "driftline.toml" in output


def test_reset_asks_then_deletes_the_emulator_data(offline, tmp_path, monkeypatch):
    monkeypatch.setattr("cli.main.ROOT", tmp_path)
    monkeypatch.setattr("devtools.azurite.is_running", lambda *_: False)
    assert "nothing to reset" in offline("reset")
    (tmp_path / ".azurite" / "__blobstorage__").mkdir(parents=True)
    (tmp_path / ".demo-repo").mkdir()
    offline("reset", input="n\n", code=1)
    assert (tmp_path / ".azurite").exists()
    assert "deleted .azurite/, .demo-repo/" in offline("reset", input="y\n")
    assert not (tmp_path / ".azurite").exists() and not (tmp_path / ".demo-repo").exists()
    (tmp_path / ".azurite").mkdir()
    offline("reset", "--yes")
    assert not (tmp_path / ".azurite").exists()


def test_reset_refuses_while_azurite_runs(offline, tmp_path, monkeypatch):
    monkeypatch.setattr("cli.main.ROOT", tmp_path)
    monkeypatch.setattr("devtools.azurite.is_running", lambda *_: True)
    (tmp_path / ".azurite").mkdir()
    assert "Azurite is running" in offline("reset", "--yes", code=1)
    assert (tmp_path / ".azurite").exists()


def test_large_upload_streams_with_a_progress_bar(connection_string, tmp_path, unique):
    """A file past the progress-bar size goes up block by block and arrives whole."""
    run = cli_runner(write_settings(tmp_path / "local.settings.json", {"AzureWebJobsStorage": connection_string}))
    big = tmp_path / "big.csv"
    line = b"0.123456789,0.987654321,1\n"
    big.write_bytes(b"x1,x2,label\n" + line * (9 * 1024 * 1024 // len(line)))
    output = run("upload", str(big), "--to", "incoming", "--as", f"{unique}/big.csv", "--no-wait")
    assert f"-> {names.DATALAKE}/incoming/{unique}/big.csv ({big.stat().st_size} bytes)" in output
    storage = connect(StorageConnection(connection_string=connection_string))
    assert storage.get_bytes(names.DATALAKE, f"incoming/{unique}/big.csv")[0] == big.read_bytes()


def test_report_reads_storage_only(connection_string, tmp_path, unique):
    model = f"m{unique}"
    run = cli_runner(write_settings(tmp_path / "local.settings.json", {"AzureWebJobsStorage": connection_string}))
    assert run("report", "--model", model, code=1).startswith(f"error: model {model} has no drift report yet")
    storage = connect(StorageConnection(connection_string=connection_string))
    for stamp in ("20260101T000000Z", "20260102T000000Z"):
        storage.put_bytes(names.REPORTS, f"{model}/{stamp}-a.html", f"<html>{stamp}</html>".encode())
        storage.write_json(names.REPORTS, f"{model}/{stamp}-a.json", {"dataset_drift": False, "reason": "calm"})
    output = run("report", "--model", model, "--out", str(tmp_path / "r"))
    assert "no drift — calm" in output
    assert (tmp_path / "r" / "20260102T000000Z-a.html").read_text() == "<html>20260102T000000Z</html>"


def test_the_driftline_script_routes_other_commands_to_the_cli(tmp_path):
    """`./driftline <command>` is the CLI (after the set-up ./driftline test did already)."""
    import os
    import subprocess

    helped = subprocess.run([str(ROOT / "driftline"), "rollback", "--help"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert helped.returncode == 0 and "--to" in helped.stdout
    settings = write_settings(tmp_path / "local.settings.json", {"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                                                 "DRIFTLINE_API_URL": f"http://127.0.0.1:{closed_port()}"})
    env = {key: value for key, value in os.environ.items() if not key.startswith("DRIFTLINE_")}
    failed = subprocess.run([str(ROOT / "driftline"), "--settings", str(settings), "runs"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=env)
    assert failed.returncode == 1 and failed.stderr.startswith("error: cannot reach the app")
    assert len(failed.stderr.strip().splitlines()) == 1 and failed.stdout == ""

"""The Azure ML training job is built correctly (never submitted here), its code is the run's snapshot,
and the settings it needs are checked."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from shared.model import azureml
from shared.platform import names
from shared.platform.messages import StepMessage
from shared.platform.settings import SettingsError, load_settings

WORKSPACE = {
    "DRIFTLINE_TRAINING_COMPUTE": "azureml",
    "DRIFTLINE_AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "DRIFTLINE_AZUREML_RESOURCE_GROUP": "rg-ml",
    "DRIFTLINE_AZUREML_WORKSPACE": "ws",
    "DRIFTLINE_AZUREML_COMPUTE": "cpu-cluster",
    "DRIFTLINE_AZUREML_ENVIRONMENT": "driftline-train@latest",
}
MESSAGE = StepMessage(run_id="run123", step="retrain", model="churn", trigger={"kind": "upload"},
                      reason="new labeled data", payload={"blobs": ["labeled/a.csv"]})


def test_job_is_built_with_the_run_and_identity_storage(tmp_path):
    pytest.importorskip("azure.ai.ml", reason="the optional extra requirements-azureml.txt is not installed")
    env = {**WORKSPACE, "AzureWebJobsStorage__accountName": "acct", "DRIFTLINE_TRAINING_ENTRY_POINT": "ds.train:fit",
           "DRIFTLINE_TRAINING_PARAMS": '{"max_iter": 50}'}
    job = azureml.build_job(load_settings(env), MESSAGE, tmp_path, env)
    assert job.name == "driftline-run123" and job.compute == "cpu-cluster"
    assert job.environment == "driftline-train@latest" and job.code == str(tmp_path)
    assert job.command == "python -P -m shared.model.azureml"
    assert job.tags == {"driftline_run_id": "run123", "driftline_model": "churn"}
    variables = job.environment_variables
    assert StepMessage.from_json(variables[azureml.MESSAGE_VARIABLE]) == MESSAGE
    assert variables["AzureWebJobsStorage__blobServiceUri"] == "https://acct.blob.core.windows.net"
    assert variables["DRIFTLINE_TRAINING_ENTRY_POINT"] == "ds.train:fit"
    assert json.loads(variables["DRIFTLINE_TRAINING_PARAMS"]) == {"max_iter": 50}
    assert variables["PYTHONPATH"] == ".driftline"
    assert "DRIFTLINE_TRAINING_COMPUTE" not in variables  # the job itself trains locally
    assert not any("AccountKey" in value for value in variables.values())


def test_the_job_trains_with_the_apps_settings_but_its_secrets(tmp_path):
    """What decides how a run trains (task, dataset window, feedback cap, file limits, holdout...) is the
    same on the cluster as in the app; no secret, and no compute selection, goes into the job."""
    from dataclasses import asdict, fields

    from shared.platform.settings import CodeSourceSettings, Settings

    app = {**WORKSPACE, "AzureWebJobsStorage__accountName": "acct", "DRIFTLINE_MODEL_NAME": "prices",
           "DRIFTLINE_TARGET_COLUMN": "price", "DRIFTLINE_TASK": "regression", "DRIFTLINE_DATASET_MAX_ROWS": "5000",
           "DRIFTLINE_DATASET_MAX_AGE_DAYS": "30", "DRIFTLINE_FEEDBACK_MAX_SHARE": "0.2",
           "DRIFTLINE_LABELED_MAX_COLUMNS": "50", "DRIFTLINE_NEW_COLUMNS": "rooms", "DRIFTLINE_HOLDOUT_PERCENT": "30",
           "DRIFTLINE_CODE_SOURCE": "github", "DRIFTLINE_GITHUB_REPOSITORY": "acme/ml", "DRIFTLINE_SNAPSHOT_MAX_FILES": "100",
           "DRIFTLINE_GITHUB_SECRET": "s1", "DRIFTLINE_ADO_SECRET": "s2", "DRIFTLINE_NOTIFY_SECRET": "s3",
           "DRIFTLINE_APPROVAL_SECRET": "s4", "DRIFTLINE_GITHUB_TOKEN": "s5", "DRIFTLINE_ADO_PAT": "s6",
           "DRIFTLINE_FUNCTION_KEY": "s7", "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=s8",
           "PATH": "/usr/bin"}
    variables = azureml.job_environment(load_settings(app), MESSAGE, app)
    secrets = {f"s{n}" for n in range(1, 8)}
    assert not secrets & set(variables.values()) and not any("s8" in value for value in variables.values())
    assert not any(name.startswith(azureml.NOT_FOR_THE_JOB) for name in variables) and "PATH" not in variables
    on_the_cluster, in_the_app = load_settings(variables), load_settings(app)
    secret = {f.name for cls in (Settings, CodeSourceSettings) for f in fields(cls) if not f.repr}
    assert all(getattr(on_the_cluster, name, None) is None for name in secret)
    assert all(getattr(on_the_cluster.code_source, name, None) is None for name in secret)
    left_out = secret | {"training_compute", "azureml", "code_source"}
    same = {k: v for k, v in asdict(in_the_app).items() if k not in left_out}
    assert {k: v for k, v in asdict(on_the_cluster).items() if k not in left_out} == same
    assert (on_the_cluster.task, on_the_cluster.dataset_max_rows, on_the_cluster.feedback_max_share) == (
        "regression", 5000, 0.2)
    assert on_the_cluster.code_source == CodeSourceSettings(kind="github", github_repository="acme/ml")


def test_the_job_holds_the_steps_lease_while_it_trains_however_long(monkeypatch):
    """The app's worker submits the job and returns, so its lease runs out; the job claims the lease and
    renews it while it trains (a live lease is what keeps the sweeper and redelivered copies away, see
    tests/events/test_timers.py), then completes the step."""
    import time
    from datetime import datetime

    from shared.chain import runs
    from shared.model import training
    from shared.platform import azure_storage
    from shared.platform import settings as settings_module
    from shared.platform.memory_storage import MemoryStorage

    storage = MemoryStorage()
    app = load_settings({**WORKSPACE, "AzureWebJobsStorage__accountName": "acct", "DRIFTLINE_STEP_LEASE_SECONDS": "3"})
    run_id, _ = runs.start_run(storage, plan="data", model="churn", trigger={"kind": "manual"}, reason="test")
    for step in ("fetch", "retrain"):  # the app began retrain, submitted the job and returned
        message = StepMessage(run_id=run_id, step=step, model="churn", trigger={"kind": "manual"}, reason="test")
        assert runs.begin_step(storage, message, lease_seconds=3).proceed
        if step == "fetch":
            runs.complete_step(storage, message, {})
    submitted = runs.get_run(storage, run_id)["steps"]["retrain"]["lease"]
    seen = {}

    def long_training(storage, settings, message, data, compute):
        time.sleep(4.5)  # past the app's lease: only the job's heartbeat keeps one live
        lease = runs.get_run(storage, message.run_id)["steps"]["retrain"]["lease"]
        renewed = datetime.fromisoformat(lease["until"]) > datetime.fromisoformat(submitted["until"])
        seen.update(holder=lease["token"], renewed=renewed, compute=compute)
        return {"version_staged": True}

    monkeypatch.setenv(azureml.MESSAGE_VARIABLE, message.to_json())
    monkeypatch.setattr(settings_module, "load_settings", lambda: app)
    monkeypatch.setattr(azure_storage, "connect", lambda _: storage)
    monkeypatch.setattr(training, "dataset_of_run", lambda *args: None)
    monkeypatch.setattr(training, "train_and_stage", long_training)
    assert azureml.main() == 0
    holder = f"azureml:driftline-{run_id}"
    assert seen == {"holder": holder, "renewed": True, "compute": holder}
    assert runs.get_run(storage, run_id)["steps"]["retrain"]["status"] == "succeeded"
    seen.clear()
    assert azureml.main() == 0 and seen == {}  # a job run again for a finished step trains nothing


def test_a_storage_key_is_never_copied_into_a_job():
    settings = load_settings({**WORKSPACE, "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    with pytest.raises(ValueError, match="identity-based storage"):
        azureml.job_environment(settings, MESSAGE)


def test_missing_workspace_settings_are_named():
    with pytest.raises(SettingsError, match="DRIFTLINE_AZUREML_COMPUTE"):
        load_settings({**{k: v for k, v in WORKSPACE.items() if k != "DRIFTLINE_AZUREML_COMPUTE"},
                       "AzureWebJobsStorage": "UseDevelopmentStorage=true"})


def test_the_job_code_is_the_runs_snapshot_with_driftlines_core_apart(chain, repo, push, tmp_path):
    commit = repo.git("rev-parse", "HEAD")
    run_id = push("training")
    for queue in (names.FETCH_QUEUE, names.UNIT_TEST_QUEUE):
        for body in chain.take(queue, run_id):
            chain.deliver(queue, body)
    message = StepMessage.from_json(chain.take(names.RETRAIN_QUEUE, run_id)[0])
    folder = azureml.job_code(chain.storage, message, tmp_path / "code")
    tracked = repo.git("ls-tree", "-r", "--name-only", commit).splitlines()
    for path in tracked:  # every file of the commit, byte for byte
        assert hashlib.sha256((folder / path).read_bytes()).hexdigest() == \
            hashlib.sha256(repo.git_bytes("show", f"{commit}:{path}")).hexdigest(), path
    shipped = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    driftline = {p for p in shipped if p.startswith(".driftline/")}
    assert shipped - driftline == set(tracked)  # nothing else of the app (no .venv, no tests)
    assert ".driftline/shared/model/azureml.py" in driftline and not any("__pycache__" in p for p in driftline)
    # the job's command, run in its code folder with its PYTHONPATH, imports the core shipped with it
    found = subprocess.run([sys.executable, "-P", "-c", "import shared.model.azureml as m; print(m.__file__)"],
                           cwd=folder, env={"PATH": os.environ["PATH"], "PYTHONPATH": azureml.RUNTIME_FOLDER},
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found == str(folder / ".driftline" / "shared" / "model" / "azureml.py")


def test_without_a_snapshot_the_job_ships_driftlines_core_alone(tmp_path):
    folder = azureml.job_code(None, MESSAGE, tmp_path / "code")  # type: ignore[arg-type]  # storage unused
    assert {p.name for p in folder.iterdir()} == {".driftline"}


def test_a_repository_with_a_top_level_shared_package_is_refused_by_name(chain, repo, push):
    (repo.path / "shared").mkdir()
    (repo.path / "shared" / "__init__.py").write_text("")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "a package named like Driftline's")
    run_id = push("training")
    assert chain.pump(run_id) == ["fetch"]
    run = chain.run(run_id)
    assert run["status"] == "failed" and "top-level `shared`" in run["steps"]["fetch"]["detail"]

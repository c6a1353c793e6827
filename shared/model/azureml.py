"""Training on Azure ML compute, for labeled data too large for one Functions instance.

With DRIFTLINE_TRAINING_COMPUTE=azureml the retrain trigger does not train: `submit` creates an Azure
ML `command` job named `driftline-<run_id>` (a redelivered message finds the job and submits nothing)
and returns. The job's code is the run's snapshot: the repository tree at the commit the run executes
(so Azure ML records, and can build an environment from, exactly that code), with Driftline's core
beside it under `.driftline/` (on PYTHONPATH only; `python -P` keeps the repository's own top-level
packages from shadowing it). On the cluster the job runs this module: it reads the labeled data, trains
and stages exactly as local training does (`training.train_and_stage`: the snapshot is read back from
storage and verified against its digest, then trained in the sandbox), then completes the retrain step,
which enqueues register as usual. A run with no snapshot (no code source: the built-in model) ships
Driftline's core alone.

The job trains with the app's own settings (every `DRIFTLINE_*` app setting: the task, the dataset
window, the feedback cap, the file limits, the training parameters...), so a run trains the same
way wherever it trains, except the secrets (`SECRET_SETTINGS`), which never leave the app, and the
compute selection (the job itself trains where it is). It reaches storage with its managed identity
(identity-based settings only: a connection string with a key is never copied into a job definition).
Requires the optional extra `requirements-azureml.txt` (azure-ai-ml) in the function app; see
docs/azureml.md.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage

MESSAGE_VARIABLE = "DRIFTLINE_STEP_MESSAGE"
APP_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_FOLDER = ".driftline"  # Driftline's core inside the job's code folder
COMMAND = "python -P -m shared.model.azureml"
# App settings whose values are secrets (webhook, notification and approval-link keys, repository
# credentials, the CLI's function key): never copied into a job definition.
SECRET_SETTINGS = frozenset({
    "DRIFTLINE_GITHUB_SECRET", "DRIFTLINE_ADO_SECRET", "DRIFTLINE_NOTIFY_SECRET", "DRIFTLINE_APPROVAL_SECRET",
    "DRIFTLINE_GITHUB_TOKEN", "DRIFTLINE_ADO_PAT", "DRIFTLINE_FUNCTION_KEY",
})
NOT_FOR_THE_JOB = ("DRIFTLINE_TRAINING_COMPUTE", "DRIFTLINE_AZUREML_")  # the job trains where it is
log = logging.getLogger(__name__)


def job_name(run_id: str) -> str:
    return f"driftline-{run_id}"


def job_environment(settings: Settings, message: StepMessage, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The job's environment: the app's `DRIFTLINE_*` settings from `env` (the app's environment by
    default) but the secrets and the compute selection, the step message, and storage by identity."""
    if not settings.storage.uses_identity:
        raise ValueError(
            "Azure ML training needs identity-based storage settings (AzureWebJobsStorage__accountName, "
            "or __blobServiceUri and __queueServiceUri) so no account key is copied into the job."
        )
    blob_uri, queue_uri = settings.storage.service_uris()
    app = os.environ if env is None else env
    variables = {name: value for name, value in app.items()
                 if name.startswith("DRIFTLINE_") and name not in SECRET_SETTINGS
                 and not name.startswith(NOT_FOR_THE_JOB)}
    variables.update({
        MESSAGE_VARIABLE: message.to_json(),
        "AzureWebJobsStorage__blobServiceUri": blob_uri,
        "AzureWebJobsStorage__queueServiceUri": queue_uri,
        "PYTHONPATH": RUNTIME_FOLDER,
    })
    return variables


def job_code(storage: Storage, message: StepMessage, folder: Path) -> Path:
    """Lay out the job's code in the empty `folder`: the run's snapshot, when the fetch step recorded
    one (verified against its digest on extraction), and Driftline's core under `.driftline/shared`."""
    from shared.repo.snapshots import materialize

    if isinstance(message.payload.get("code"), dict):
        from shared.model.code import snapshot_of

        materialize(storage, snapshot_of(storage, message), folder)
    else:
        folder.mkdir(parents=True)
    if (folder / RUNTIME_FOLDER).exists():
        raise ValueError(f"the repository has a top-level {RUNTIME_FOLDER}/, which the Azure ML job "
                         "needs for Driftline's own code; rename it.")
    shutil.copytree(APP_ROOT / "shared", folder / RUNTIME_FOLDER / "shared",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


def build_job(settings: Settings, message: StepMessage, code: Path, env: Mapping[str, str] | None = None):
    """The azure-ai-ml command job for this run, with `code` (from `job_code`) as its code folder."""
    from azure.ai.ml import command

    workspace = settings.azureml
    if workspace is None:
        raise ValueError("DRIFTLINE_TRAINING_COMPUTE is not azureml; there is no workspace to train in.")
    return command(
        name=job_name(message.run_id),
        display_name=f"driftline retrain {message.model}",
        experiment_name=f"driftline-{message.model}",
        description=message.reason,
        code=str(code),
        command=COMMAND,
        environment=workspace.environment,
        compute=workspace.compute,
        environment_variables=job_environment(settings, message, env),
        tags={"driftline_run_id": message.run_id, "driftline_model": message.model},
    )


def submit(storage: Storage, settings: Settings, message: StepMessage) -> str:
    """Submit the run's job once; returns its name."""
    from azure.ai.ml import MLClient
    from azure.core.exceptions import ResourceNotFoundError
    from azure.identity import DefaultAzureCredential

    workspace = settings.azureml
    if workspace is None:
        raise ValueError("DRIFTLINE_TRAINING_COMPUTE is not azureml; there is no workspace to train in.")
    client = MLClient(DefaultAzureCredential(), workspace.subscription_id, workspace.resource_group,
                      workspace.workspace)
    name = job_name(message.run_id)
    try:
        client.jobs.get(name)
        log.info("Azure ML job %s exists already (redelivered retrain message)", name)
        return name
    except ResourceNotFoundError:
        pass
    with tempfile.TemporaryDirectory(prefix="driftline-job-") as scratch:
        code = job_code(storage, message, Path(scratch) / "code")
        client.jobs.create_or_update(build_job(settings, message, code))  # uploads the folder
    return name


def main() -> int:
    """Inside the Azure ML job: train, stage, and complete the retrain step."""
    from shared.chain import runs, steps
    from shared.chain.states import StopRun
    from shared.model import training
    from shared.platform import azure_storage
    from shared.platform.settings import load_settings

    settings = load_settings()
    storage = azure_storage.connect(settings.storage)
    message = StepMessage.from_json(os.environ[MESSAGE_VARIABLE])
    holder = f"azureml:{job_name(message.run_id)}"
    if not runs.claim_lease(storage, message, holder, settings.step_lease_seconds):
        log.info("run %s: the retrain step is not running any more; the job has nothing to do", message.run_id)
        return 0
    # The job's heartbeat keeps the step's lease live while it trains, however long: the sweeper
    # leaves the step alone and a redelivered message waits, until the job ends or dies.
    with runs.heartbeat(storage, message, holder, settings.step_lease_seconds):
        try:
            data = training.dataset_of_run(storage, settings, message)
            outputs = training.train_and_stage(storage, settings, message, data, compute=holder)
        except StopRun as stop:
            steps.stop_at_step(storage, message, stop)
            return 1
        runs.complete_step(storage, message, outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The model's steps of the chain, as `shared.chain.steps.run_step` calls them.

Each takes (storage, settings, message), does its capability's work and completes the step, which
enqueues the next one; a `StopRun` it raises ends the run instead.
- fetch: the commit this run executes, stored as a snapshot and checked (`code.fetch`).
- unit_test: the repository's unit tests from the snapshot, in the sandbox (`code.unit_tests`).
- retrain: locally, `training` reads the run's dataset, ends the run "skipped" when dataset, code and
  parameters are production's, else trains and stages the artifacts in this worker;
  with DRIFTLINE_TRAINING_COMPUTE=azureml the step submits the run's Azure ML job
  (`shared.model.azureml`) and returns without completing: the job completes the step itself.
- register: the staged artifacts become a committed version (`registry.register_run`).
- test: the gates (`gates.run_gates`); then approval is requested, or the step completes.
- deploy: the alias moves (`deploy.deploy_version`).
"""

from __future__ import annotations

import time

from shared.chain import approvals, runs
from shared.model import code, deploy, gates, registry, training
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage


def fetch_step(storage: Storage, settings: Settings, message: StepMessage) -> None:
    runs.complete_step(storage, message, code.fetch(storage, settings, message))


def unit_test_step(storage: Storage, settings: Settings, message: StepMessage) -> None:
    runs.complete_step(storage, message, code.unit_tests(storage, settings, message))


def retrain_step(storage: Storage, settings: Settings, message: StepMessage) -> None:
    if settings.training_compute == "azureml":
        from shared.model import azureml

        azureml.submit(storage, settings, message)
        return
    started = time.perf_counter()
    data = training.dataset_of_run(storage, settings, message)
    outputs = training.train_and_stage(storage, settings, message, data, load_seconds=time.perf_counter() - started)
    runs.complete_step(storage, message, outputs)


def register_step(storage: Storage, settings: Settings, message: StepMessage) -> None:
    runs.complete_step(storage, message, registry.register_run(storage, message))


def test_step(storage: Storage, settings: Settings, message: StepMessage) -> None:
    outputs = gates.run_gates(storage, settings, message)
    if settings.approval_required:
        approvals.request(storage, settings, message, outputs)
    else:
        runs.complete_step(storage, message, outputs, detail="; ".join(outputs.get("warnings", [])))


def deploy_step(storage: Storage, settings: Settings, message: StepMessage) -> None:
    runs.complete_step(storage, message, deploy.deploy_version(storage, settings, message))

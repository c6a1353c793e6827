"""The Azure ML training job is built correctly (never submitted here), and the settings it needs are checked."""

from __future__ import annotations

import json

import pytest

from shared.model import azureml
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


def test_job_is_built_with_the_run_and_identity_storage():
    pytest.importorskip("azure.ai.ml", reason="the optional extra requirements-azureml.txt is not installed")
    settings = load_settings({**WORKSPACE, "AzureWebJobsStorage__accountName": "acct",
                              "DRIFTLINE_TRAINING_ENTRY_POINT": "ds.train:fit",
                              "DRIFTLINE_TRAINING_PARAMS": '{"max_iter": 50}'})
    job = azureml.build_job(settings, MESSAGE)
    assert job.name == "driftline-run123" and job.compute == "cpu-cluster"
    assert job.environment == "driftline-train@latest"
    assert job.command == "python -m shared.model.azureml"
    assert job.tags == {"driftline_run_id": "run123", "driftline_model": "churn"}
    variables = job.environment_variables
    assert StepMessage.from_json(variables[azureml.MESSAGE_VARIABLE]) == MESSAGE
    assert variables["AzureWebJobsStorage__blobServiceUri"] == "https://acct.blob.core.windows.net"
    assert variables["DRIFTLINE_TRAINING_ENTRY_POINT"] == "ds.train:fit"
    assert json.loads(variables["DRIFTLINE_TRAINING_PARAMS"]) == {"max_iter": 50}
    assert "DRIFTLINE_TRAINING_COMPUTE" not in variables  # the job itself trains locally
    assert not any("AccountKey" in value for value in variables.values())


def test_a_storage_key_is_never_copied_into_a_job():
    settings = load_settings({**WORKSPACE, "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    with pytest.raises(ValueError, match="identity-based storage"):
        azureml.job_environment(settings, MESSAGE)


def test_missing_workspace_settings_are_named():
    with pytest.raises(SettingsError, match="DRIFTLINE_AZUREML_COMPUTE"):
        load_settings({**{k: v for k, v in WORKSPACE.items() if k != "DRIFTLINE_AZUREML_COMPUTE"},
                       "AzureWebJobsStorage": "UseDevelopmentStorage=true"})

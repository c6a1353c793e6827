"""The Bicep sets every app setting the code reads, and creates every container and queue it uses.

Settings read: every name `load_settings` and `blob_source` look up (recorded on a mapping that
notes each read, through each branch: connection string, account name, service URIs, Azure ML), and
every `%NAME%` a trigger binding resolves (the timer schedules). Each must be in main.bicep's
`appSettings` and in local.settings.example.json. The storage connection is one setting with
alternatives: the Bicep uses the identity-based one and must not set the connection string (which
would win). Containers and queues: every name in shared/platform/names.py, and each queue's
`-poison` queue.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from shared.platform import names
from shared.platform.settings import blob_source, load_settings
from tests.infra import bicep

ROOT = Path(__file__).resolve().parents[2]
STORAGE_ALTERNATIVES = {"AzureWebJobsStorage", "AzureWebJobsStorage__accountName",
                        "AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__queueServiceUri"}
AZUREML = {name: "x" for name in ("DRIFTLINE_AZUREML_SUBSCRIPTION_ID", "DRIFTLINE_AZUREML_RESOURCE_GROUP",
                                  "DRIFTLINE_AZUREML_WORKSPACE", "DRIFTLINE_AZUREML_COMPUTE",
                                  "DRIFTLINE_AZUREML_ENVIRONMENT")}


class Recording(dict):
    """An environment that notes the name of every read."""

    def __init__(self, values: dict[str, str], reads: set[str]):
        super().__init__(values)
        self.reads = reads

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.reads.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.reads.add(str(key))
        return super().__contains__(key)


def settings_the_code_reads() -> set[str]:
    reads: set[str] = set()
    environments = [
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
        {"AzureWebJobsStorage__accountName": "stdl", "DRIFTLINE_TRAINING_COMPUTE": "azureml", **AZUREML},
        {"AzureWebJobsStorage__blobServiceUri": "https://a.blob.core.windows.net",
         "AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net"},
    ]
    for environment in environments:
        load_settings(Recording(environment, reads))
        blob_source(Recording(environment, reads))
    return reads | binding_settings()


def binding_settings() -> set[str]:
    """`%NAME%` app settings resolved by the trigger decorators in functions/."""
    found = set()
    for path in (ROOT / "functions").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if len(text) > 2 and text.startswith("%") and text.endswith("%"):
                    found.add(text[1:-1])
    return found


def bicep_settings() -> dict[str, str]:
    return bicep.object_entries(bicep.read("main.bicep"), "var appSettings")


def test_the_recording_sees_reads_of_every_kind():
    reads = settings_the_code_reads()
    # one of each: a plain setting, a branch-only one, a storage alternative, a binding expression
    assert {"DRIFTLINE_MODEL_NAME", "DRIFTLINE_AZUREML_WORKSPACE", "AzureWebJobsStorage__queueServiceUri",
            "DRIFTLINE_SWEEP_SCHEDULE", "DRIFTLINE_BLOB_SOURCE"} <= reads


def test_bicep_sets_every_setting_the_code_reads():
    needed = settings_the_code_reads() - STORAGE_ALTERNATIVES
    missing = sorted(needed - set(bicep_settings()))
    assert not missing, f"main.bicep appSettings lacks {missing}"


def test_bicep_sets_no_setting_the_code_does_not_read():
    """A misspelt or removed setting in the Bicep would configure nothing."""
    platform = {"AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID",
                "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}
    unread = sorted(set(bicep_settings()) - settings_the_code_reads() - platform)
    assert not unread, f"main.bicep sets {unread}, which nothing reads"


def test_local_example_lists_every_setting_the_code_reads():
    example = set(json.loads((ROOT / "local.settings.example.json").read_text())["Values"])
    needed = settings_the_code_reads() - STORAGE_ALTERNATIVES
    assert not sorted(needed - example), f"local.settings.example.json lacks {sorted(needed - example)}"
    assert "AzureWebJobsStorage" in example


def test_storage_is_identity_based():
    settings = bicep_settings()
    assert "AzureWebJobsStorage" not in settings, "a connection string would win over the identity"
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert settings["AzureWebJobsStorage__clientId"] == "identity.outputs.clientId"
    assert settings["AZURE_CLIENT_ID"] == "identity.outputs.clientId"  # DefaultAzureCredential in the app
    storage = bicep.read("app/storage.bicep")
    assert "allowSharedKeyAccess: false" in storage
    assert "isVersioningEnabled: true" in storage


def test_flex_consumption_settings():
    settings = bicep_settings()
    assert settings["DRIFTLINE_BLOB_SOURCE"] == "'EventGrid'"  # Flex Consumption has no polling blob trigger
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings  # Flex refuses it: functionAppConfig.runtime says python
    assert "runtime: { name: 'python', version: '3.11' }" in bicep.read("app/function.bicep")
    assert "disableLocalAuth: true" in bicep.read("main.bicep")


def test_secrets_come_from_key_vault():
    """Each secret setting references its Key Vault secret when given or listed in vaultSecrets."""
    settings, text = bicep_settings(), bicep.read("main.bicep")
    secrets = bicep.object_entries(text, "var secretValues")
    expected = {"DRIFTLINE_GITHUB_SECRET": "github-secret", "DRIFTLINE_ADO_SECRET": "ado-secret",
                "DRIFTLINE_NOTIFY_SECRET": "notify-secret", "DRIFTLINE_GITHUB_TOKEN": "github-token",
                "DRIFTLINE_ADO_PAT": "ado-pat", "DRIFTLINE_APPROVAL_SECRET": "approval-secret"}
    assert set(secrets) == set(expected.values())
    for setting, secret in expected.items():
        param = secrets[secret]
        lines = text.splitlines()
        declared = lines.index(f"param {param} string = ''")
        assert "@secure()" in lines[declared - 2:declared], f"{param} is not a @secure() parameter"
        assert settings[setting] == (f"empty({param}) && !contains(inVault, '{secret}') ? '' : "
                                     f"'${{vaultReference}}{secret})'"), setting
    assert "keyVaultReferenceIdentity: identityId" in bicep.read("app/function.bicep")


def containers_in_names() -> set[str]:
    return {value for key, value in vars(names).items()
            if key.isupper() and isinstance(value, str) and not key.endswith(("_PREFIX", "_QUEUE"))}


def test_bicep_creates_every_container():
    created = set(bicep.quoted_items(bicep.read("main.bicep"), "var containers"))
    assert {names.DATALAKE, names.CODE} <= containers_in_names()  # the introspection finds containers
    missing = sorted(containers_in_names() - created)
    assert not missing, f"main.bicep does not create {missing}"
    assert "for container in containers:" in bicep.read("app/storage.bicep")


def test_bicep_creates_every_queue_and_its_poison_queue():
    every_queue = {value for key, value in vars(names).items() if key.endswith("_QUEUE")}
    assert every_queue == set(names.QUEUES), "a *_QUEUE constant is missing from names.QUEUES"
    text = bicep.read("main.bicep")
    assert set(bicep.quoted_items(text, "var stepQueues")) == every_queue
    assert set(bicep.quoted_items(text, "var poisonQueues")) == {f"{queue}-poison" for queue in every_queue}
    assert "queues: concat(stepQueues, poisonQueues)" in text
    assert "for queue in queues:" in bicep.read("app/storage.bicep")


def test_event_grid_subscribes_every_blob_trigger():
    """lake-events.bicep subscribes each EventGrid blob trigger of functions/lake.py to its folder."""
    triggers = {name: value.strip("'") for name, value in
                bicep.object_entries(bicep.read("app/lake-events.bicep"), "param triggers object").items()}
    assert triggers == {"on_labeled": names.LABELED_PREFIX, "on_incoming": names.INCOMING_PREFIX}
    lake = (ROOT / "functions" / "lake.py").read_text()
    for function, prefix in (("on_labeled", "LABELED_PREFIX"), ("on_incoming", "INCOMING_PREFIX")):
        assert f'function_name("{function}")' in lake and f"names.{prefix}" in lake
    assert f"param lakeContainer string = '{names.DATALAKE}'" in bicep.read("app/lake-events.bicep")

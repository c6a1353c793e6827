"""One typed settings object, read from app settings (environment variables), validated at start.

Every setting the app reads is here, with its default; `local.settings.example.json` lists them all.
A bad value raises `SettingsError` naming the setting and saying what is expected.

Container and queue names are fixed (see `shared/platform/names.py`) rather than settings: the trigger
bindings name them too, and two places that must agree are safer as one constant.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import urlsplit

from shared.platform.errors import SettingsError

STORAGE_SETTING = "AzureWebJobsStorage"


@dataclass(frozen=True)
class StorageConnection:
    """How to reach the storage account: a connection string, or service URIs with an identity.

    Mirrors the Functions host: `AzureWebJobsStorage` holds a connection string (including
    `UseDevelopmentStorage=true`), or `AzureWebJobsStorage__accountName` /
    `AzureWebJobsStorage__blobServiceUri` + `__queueServiceUri` select identity-based access
    with DefaultAzureCredential (managed identity in Azure, your az login locally).
    """

    connection_string: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    def service_uris(self) -> tuple[str, str]:
        """(blob, queue) service URIs of identity-based access."""
        if self.blob_service_uri is None or self.queue_service_uri is None:
            raise SettingsError("identity-based storage access needs both the blob and the queue service URI.")
        return self.blob_service_uri, self.queue_service_uri


@dataclass(frozen=True)
class CodeSourceSettings:
    """Where runs get the code of a pushed commit (DRIFTLINE_CODE_SOURCE; see shared/repo/sources.py).

    `kind` is None (no code source), "git" (dulwich fetches `git_location`, a URL or a path), "github"
    or "azure-devops" (their REST APIs). Tokens are left out of the repr.
    """

    kind: str | None = None
    git_location: str | None = None
    github_repository: str | None = None
    github_token: str | None = field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    ado_organization_url: str | None = None
    ado_project: str | None = None
    ado_repository: str | None = None
    ado_pat: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CostRates:
    """What a run's cost is estimated with (`shared/chain/cost.py`), in US dollars.

    Defaults are the list prices of the Azure Functions Flex Consumption plan, on-demand mode, pay-as-you-go,
    East US, as published on https://azure.microsoft.com/pricing/details/functions/ (looked up 2026-12-01):
    on-demand execution time $0.000026 per GB-second, on-demand executions $0.40 per million. The free
    monthly grant (100,000 GB-s and 250,000 executions per subscription) is not subtracted: the estimate is
    what the work costs, not what one month's bill says. Billed GB-seconds are the instance memory size
    (Flex Consumption: 512, 2048 or 4096 MB; infra/main.bicep deploys 4096) times the execution's seconds,
    at least 1 second per execution (the plan's minimum billable period).

    Azure ML training is billed by its VM: `azureml_vm_hour_usd` defaults to a Standard_DS3_v2 node (4 vCPU,
    14 GiB), Linux pay-as-you-go East US, $0.293 per hour (https://azure.microsoft.com/pricing/details/
    virtual-machines/linux/); set it to your cluster's VM size.
    """

    instance_memory_mb: int = 4096  # DRIFTLINE_COST_INSTANCE_MEMORY_MB
    gb_second_usd: float = 0.000026  # DRIFTLINE_COST_GB_SECOND_USD
    million_executions_usd: float = 0.40  # DRIFTLINE_COST_MILLION_EXECUTIONS_USD
    azureml_vm_hour_usd: float = 0.293  # DRIFTLINE_COST_AZUREML_VM_HOUR_USD


INSTANCE_MEMORY_SIZES = (512, 2048, 4096)
# The timers' schedules (NCRONTAB, six fields), by function name; the host reads them as %SETTING%.
TIMER_SCHEDULES = {
    "timer_drift": ("DRIFTLINE_DRIFT_SCHEDULE", "0 0 2 * * *"),
    "timer_retrain": ("DRIFTLINE_RETRAIN_SCHEDULE", "0 0 3 * * 0"),
    "timer_sweep": ("DRIFTLINE_SWEEP_SCHEDULE", "0 */5 * * * *"),
    "timer_cleanup": ("DRIFTLINE_CLEANUP_SCHEDULE", "0 30 4 * * *"),
}


@dataclass(frozen=True)
class Settings:
    storage: StorageConnection
    model_name: str = "driftline-model"
    target_column: str = "label"
    training_entry_point: str | None = None
    training_params: Mapping[str, Any] = field(default_factory=dict)
    drift_config: Mapping[str, Any] = field(default_factory=dict)
    approval_required: bool = False
    approval_ttl_hours: float = 72.0
    approvers: tuple[str, ...] = ()
    approval_secret: str | None = field(default=None, repr=False)
    trust_app_service_auth: bool = False
    ci_wait_hours: float = 24.0
    quality_tolerance: float = 0.01
    latency_budget_ms: float = 50.0
    latency_repetitions: int = 50
    integration_tests: str | None = None
    canary_percent: int = 0
    canary_max_error_rate: float = 0.05
    canary_min_requests: int = 100
    notify_url: str | None = None
    notify_secret: str | None = field(default=None, repr=False)  # secrets stay out of reprs and logs
    github_secret: str | None = field(default=None, repr=False)
    ado_secret: str | None = field(default=None, repr=False)
    branches: tuple[str, ...] = ("main",)
    routing_file: str = "routing.toml"
    wait_for_ci: bool = False
    retrain_coalesce_seconds: int = 60
    step_timeout_minutes: int = 60
    retention_days: int = 30
    scoring_log_batch: int = 100
    scoring_log_flush_seconds: float = 5.0
    alias_check_seconds: float = 2.0
    canary_flush_requests: int = 50
    webhook_max_age_seconds: int = 600
    webhook_max_bytes: int = 5 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    max_json_items: int = 10_000
    quality_metric: str = "auto"
    task: str = "auto"  # auto | classification | regression (shared/model/tasks.py)
    unscorable_production: str = "fail"  # the quality gate's rule when production cannot be scored
    holdout_percent: int = 20
    canary_max_latency_ms: float = 500.0
    canary_min_feedback: int = 20
    canary_confidence: float = 0.95  # one-sided: how sure feedback must be that a canary is worse to remove it
    training_compute: str = "local"
    azureml: "AzureMLWorkspace | None" = None
    ci_checks: tuple[str, ...] = ()
    blob_source: str = "LogsAndContainerScan"
    scheduled_drift: bool = False
    scheduled_retrain: bool = False
    sweep_enabled: bool = True
    cleanup_enabled: bool = True
    drift_window_hours: float = 24.0
    step_max_retries: int = 2
    step_lease_seconds: float = 300.0
    code_source: CodeSourceSettings = CodeSourceSettings()
    snapshot_max_bytes: int = 50 * 1024 * 1024
    snapshot_max_files: int = 5000
    # Labeled data (shared/model/labeled.py, datasets.py): per-file bounds, the dataset window, and
    # when new rows (uploads, feedback) start a retrain.
    labeled_max_bytes: int = 512 * 1024 * 1024
    labeled_max_columns: int = 1000
    new_columns: tuple[str, ...] = ()
    dataset_max_age_days: float = 0.0  # 0: no age limit
    dataset_max_rows: int = 0  # 0: no row limit
    retrain_min_new_rows: int = 1
    feedback_min_rows: int = 100
    feedback_max_share: float = 0.5
    cost: CostRates = CostRates()
    timer_schedules: Mapping[str, str] = field(
        default_factory=lambda: {name: default for name, (_, default) in TIMER_SCHEDULES.items()})
    trace_console: bool = False
    appinsights_connection_string: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClientSettings:
    """How the CLI (`./driftline <command>`) reaches the app's HTTP API; read from the same
    local.settings.json / environment as the app. The key is left out of the repr."""

    api_url: str = "http://127.0.0.1:7071"
    function_key: str | None = field(default=None, repr=False)


def client_settings(env: Mapping[str, str] | None = None) -> ClientSettings:
    """DRIFTLINE_API_URL (default: the local app, `./driftline start`) and DRIFTLINE_FUNCTION_KEY
    (sent as x-functions-key; Azure needs it, the local app does not)."""
    env = os.environ if env is None else env
    return ClientSettings(api_url=_url(env, "DRIFTLINE_API_URL", ClientSettings.api_url),
                          function_key=_text(env, "DRIFTLINE_FUNCTION_KEY", None))


CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2")
QUALITY_METRICS = ("auto", *CLASSIFICATION_METRICS, *REGRESSION_METRICS)
TASKS = ("auto", "classification", "regression")
UNSCORABLE_RULES = ("fail", "pass-with-warning")
TRAINING_COMPUTES = ("local", "azureml")


@dataclass(frozen=True)
class AzureMLWorkspace:
    """Where training runs when DRIFTLINE_TRAINING_COMPUTE=azureml (see docs/azureml.md)."""

    subscription_id: str
    resource_group: str
    workspace: str
    compute: str
    environment: str


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _text(env, name, default)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def azureml_workspace(env: Mapping[str, str], compute: str) -> AzureMLWorkspace | None:
    if compute != "azureml":
        return None
    keys = {
        "subscription_id": "DRIFTLINE_AZUREML_SUBSCRIPTION_ID",
        "resource_group": "DRIFTLINE_AZUREML_RESOURCE_GROUP",
        "workspace": "DRIFTLINE_AZUREML_WORKSPACE",
        "compute": "DRIFTLINE_AZUREML_COMPUTE",
        "environment": "DRIFTLINE_AZUREML_ENVIRONMENT",
    }
    values = {field_name: _text(env, setting, None) for field_name, setting in keys.items()}
    missing = [keys[field_name] for field_name, value in values.items() if value is None]
    if missing:
        raise SettingsError(f"DRIFTLINE_TRAINING_COMPUTE=azureml needs {', '.join(missing)}.")
    return AzureMLWorkspace(**{field_name: str(value) for field_name, value in values.items()})


@overload
def _text(env: Mapping[str, str], name: str, default: str) -> str: ...
@overload
def _text(env: Mapping[str, str], name: str, default: None) -> str | None: ...
def _text(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _text(env, name, None)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}.")


def _number(env: Mapping[str, str], name: str, default, kind, low=None, high=None):
    value = _text(env, name, None)
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {expected}, got {value!r}.") from None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"{name} must be {bounds}, got {value!r}.")
    return number


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    value = _text(env, name, None)
    if value is None:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{name} must be a JSON object, got invalid JSON ({error.msg}).") from None
    if not isinstance(parsed, dict):
        raise SettingsError(f"{name} must be a JSON object, got {type(parsed).__name__}.")
    return parsed


def _entry_point(env: Mapping[str, str], name: str) -> str | None:
    value = _text(env, name, None)
    if value is not None and (value.count(":") != 1 or not all(value.split(":"))):
        raise SettingsError(f"{name} must look like 'package.module:function', got {value!r}.")
    return value


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (_text(env, name, "") or "").split(",") if part.strip())


BLOB_SOURCES = ("LogsAndContainerScan", "EventGrid")


def blob_source(env: Mapping[str, str] | None = None) -> str:
    """How blob triggers learn of uploads. Read at import by `functions/lake.py` (the decorator
    needs it at indexing time), so it takes only the environment and stays cheap."""
    env = os.environ if env is None else env
    value = _text(env, "DRIFTLINE_BLOB_SOURCE", BLOB_SOURCES[0])
    for known in BLOB_SOURCES:
        if value.lower() == known.lower():
            return known
    raise SettingsError(f"DRIFTLINE_BLOB_SOURCE must be one of {', '.join(BLOB_SOURCES)}, got {value!r}.")


GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")


@overload
def _url(env: Mapping[str, str], name: str, default: str) -> str: ...
@overload
def _url(env: Mapping[str, str], name: str, default: None) -> str | None: ...
def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = _text(env, name, default)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"{name} must be an http(s) URL, got {value!r}.")
        value = value.rstrip("/")
    return value


def code_source_settings(env: Mapping[str, str]) -> CodeSourceSettings:
    value = _text(env, "DRIFTLINE_CODE_SOURCE", None)
    kind, location = value, None
    if value is not None and value.startswith("git:") and value[4:].strip():
        kind, location = "git", value[4:].strip()
    elif value not in (None, "github", "azure-devops"):
        raise SettingsError(f"DRIFTLINE_CODE_SOURCE must be empty, git:<url-or-path>, github or azure-devops, "
                            f"got {value!r}.")
    repository = _text(env, "DRIFTLINE_GITHUB_REPOSITORY", None)
    if repository is not None and not GITHUB_REPOSITORY.match(repository):
        raise SettingsError(f"DRIFTLINE_GITHUB_REPOSITORY must look like 'owner/name', got {repository!r}.")
    source = CodeSourceSettings(
        kind=kind,
        git_location=location,
        github_repository=repository,
        github_token=_text(env, "DRIFTLINE_GITHUB_TOKEN", None),
        github_api_url=_url(env, "DRIFTLINE_GITHUB_API_URL", "https://api.github.com"),
        ado_organization_url=_url(env, "DRIFTLINE_ADO_ORGANIZATION_URL", None),
        ado_project=_text(env, "DRIFTLINE_ADO_PROJECT", None),
        ado_repository=_text(env, "DRIFTLINE_ADO_REPOSITORY", None),
        ado_pat=_text(env, "DRIFTLINE_ADO_PAT", None),
    )
    needed = {
        "github": {"DRIFTLINE_GITHUB_REPOSITORY": source.github_repository},
        "azure-devops": {"DRIFTLINE_ADO_ORGANIZATION_URL": source.ado_organization_url,
                         "DRIFTLINE_ADO_PROJECT": source.ado_project,
                         "DRIFTLINE_ADO_REPOSITORY": source.ado_repository},
    }.get(kind or "", {})
    missing = [name for name, given in needed.items() if given is None]
    if missing:
        raise SettingsError(f"DRIFTLINE_CODE_SOURCE={kind} needs {', '.join(missing)}.")
    return source


def storage_connection(env: Mapping[str, str], prefix: str = STORAGE_SETTING) -> StorageConnection:
    connection_string = _text(env, prefix, None)
    if connection_string is not None:
        return StorageConnection(connection_string=connection_string)
    account = _text(env, f"{prefix}__accountName", None)
    if account is not None:
        return StorageConnection(
            blob_service_uri=f"https://{account}.blob.core.windows.net",
            queue_service_uri=f"https://{account}.queue.core.windows.net",
        )
    blob_uri = _text(env, f"{prefix}__blobServiceUri", None)
    queue_uri = _text(env, f"{prefix}__queueServiceUri", None)
    if blob_uri and queue_uri:
        return StorageConnection(blob_service_uri=blob_uri, queue_service_uri=queue_uri)
    raise SettingsError(
        f"{prefix} is not set: give a connection string (UseDevelopmentStorage=true for Azurite), "
        f"or {prefix}__accountName, or both {prefix}__blobServiceUri and {prefix}__queueServiceUri."
    )


def cost_rates(env: Mapping[str, str]) -> CostRates:
    memory = _number(env, "DRIFTLINE_COST_INSTANCE_MEMORY_MB", 4096, int, 1)
    if memory not in INSTANCE_MEMORY_SIZES:
        raise SettingsError(f"DRIFTLINE_COST_INSTANCE_MEMORY_MB must be one of the Flex Consumption instance sizes "
                            f"{', '.join(map(str, INSTANCE_MEMORY_SIZES))}, got {memory}.")
    return CostRates(
        instance_memory_mb=memory,
        gb_second_usd=_number(env, "DRIFTLINE_COST_GB_SECOND_USD", 0.000026, float, 0.0),
        million_executions_usd=_number(env, "DRIFTLINE_COST_MILLION_EXECUTIONS_USD", 0.40, float, 0.0),
        azureml_vm_hour_usd=_number(env, "DRIFTLINE_COST_AZUREML_VM_HOUR_USD", 0.293, float, 0.0),
    )


def timer_schedules(env: Mapping[str, str]) -> dict[str, str]:
    """Each timer's NCRONTAB schedule (six fields: second minute hour day month day-of-week), checked."""
    from croniter import croniter  # loaded when settings are read, not when the app is indexed

    schedules = {}
    for function, (name, default) in TIMER_SCHEDULES.items():
        # Set but empty is an error, not the default: the host would bind the timer to "" and fail.
        value = default if env.get(name) is None else env[name].strip()
        if len(value.split()) != 6 or not croniter.is_valid(value, second_at_beginning=True):
            raise SettingsError(f"{name} must be an NCRONTAB expression of six fields "
                                f"(second minute hour day month day-of-week), got {value!r}.")
        schedules[function] = value
    return schedules


def _task_and_metric(env: Mapping[str, str]) -> tuple[str, str]:
    """DRIFTLINE_TASK and DRIFTLINE_QUALITY_METRIC; a declared task refuses a metric of the other kind."""
    task = _choice(env, "DRIFTLINE_TASK", "auto", TASKS)
    metric = _choice(env, "DRIFTLINE_QUALITY_METRIC", "auto", QUALITY_METRICS)
    other = {"classification": REGRESSION_METRICS, "regression": CLASSIFICATION_METRICS}.get(task, ())
    if metric in other:
        raise SettingsError(f"DRIFTLINE_QUALITY_METRIC must be auto or a {task} metric with DRIFTLINE_TASK={task}, "
                            f"got {metric!r}.")
    return task, metric


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raises SettingsError on the first bad one."""
    env = os.environ if env is None else env
    branches = tuple(b.strip() for b in (_text(env, "DRIFTLINE_BRANCHES", "main") or "").split(",") if b.strip())
    if not branches:
        raise SettingsError("DRIFTLINE_BRANCHES must list at least one branch, e.g. 'main'.")
    compute = _choice(env, "DRIFTLINE_TRAINING_COMPUTE", "local", TRAINING_COMPUTES)
    task, metric = _task_and_metric(env)
    return Settings(
        storage=storage_connection(env),
        model_name=_text(env, "DRIFTLINE_MODEL_NAME", "driftline-model"),
        target_column=_text(env, "DRIFTLINE_TARGET_COLUMN", "label"),
        training_entry_point=_entry_point(env, "DRIFTLINE_TRAINING_ENTRY_POINT"),
        training_params=_json_object(env, "DRIFTLINE_TRAINING_PARAMS"),
        drift_config=_json_object(env, "DRIFTLINE_DRIFT_CONFIG"),
        approval_required=_bool(env, "DRIFTLINE_APPROVAL_REQUIRED", False),
        approval_ttl_hours=_number(env, "DRIFTLINE_APPROVAL_TTL_HOURS", 72.0, float, 0.01),
        approvers=_names(env, "DRIFTLINE_APPROVERS"),
        approval_secret=_text(env, "DRIFTLINE_APPROVAL_SECRET", None),
        trust_app_service_auth=_bool(env, "DRIFTLINE_TRUST_APP_SERVICE_AUTH", False),
        ci_wait_hours=_number(env, "DRIFTLINE_CI_WAIT_HOURS", 24.0, float, 0.01),
        quality_tolerance=_number(env, "DRIFTLINE_QUALITY_TOLERANCE", 0.01, float, 0.0, 1.0),
        latency_budget_ms=_number(env, "DRIFTLINE_LATENCY_BUDGET_MS", 50.0, float, 0.001),
        latency_repetitions=_number(env, "DRIFTLINE_LATENCY_REPETITIONS", 50, int, 1),
        integration_tests=_entry_point(env, "DRIFTLINE_INTEGRATION_TESTS"),
        canary_percent=_number(env, "DRIFTLINE_CANARY_PERCENT", 0, int, 0, 100),
        canary_max_error_rate=_number(env, "DRIFTLINE_CANARY_MAX_ERROR_RATE", 0.05, float, 0.0, 1.0),
        canary_min_requests=_number(env, "DRIFTLINE_CANARY_MIN_REQUESTS", 100, int, 1),
        notify_url=_text(env, "DRIFTLINE_NOTIFY_URL", None),
        notify_secret=_text(env, "DRIFTLINE_NOTIFY_SECRET", None),
        github_secret=_text(env, "DRIFTLINE_GITHUB_SECRET", None),
        ado_secret=_text(env, "DRIFTLINE_ADO_SECRET", None),
        branches=branches,
        routing_file=_text(env, "DRIFTLINE_ROUTING_FILE", "routing.toml"),
        wait_for_ci=_bool(env, "DRIFTLINE_WAIT_FOR_CI", False),
        retrain_coalesce_seconds=_number(env, "DRIFTLINE_RETRAIN_COALESCE_SECONDS", 60, int, 0, 86400),
        step_timeout_minutes=_number(env, "DRIFTLINE_STEP_TIMEOUT_MINUTES", 60, int, 1),
        retention_days=_number(env, "DRIFTLINE_RETENTION_DAYS", 30, int, 1),
        scoring_log_batch=_number(env, "DRIFTLINE_SCORING_LOG_BATCH", 100, int, 1),
        scoring_log_flush_seconds=_number(env, "DRIFTLINE_SCORING_LOG_FLUSH_SECONDS", 5.0, float, 0.1),
        alias_check_seconds=_number(env, "DRIFTLINE_ALIAS_CHECK_SECONDS", 2.0, float, 0.0),
        canary_flush_requests=_number(env, "DRIFTLINE_CANARY_FLUSH_REQUESTS", 50, int, 1),
        webhook_max_age_seconds=_number(env, "DRIFTLINE_WEBHOOK_MAX_AGE_SECONDS", 600, int, 1),
        webhook_max_bytes=_number(env, "DRIFTLINE_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024, int, 1024),
        max_body_bytes=_number(env, "DRIFTLINE_MAX_BODY_BYTES", 1024 * 1024, int, 1024),
        max_json_depth=_number(env, "DRIFTLINE_MAX_JSON_DEPTH", 32, int, 2, 200),
        max_json_items=_number(env, "DRIFTLINE_MAX_JSON_ITEMS", 10_000, int, 1),
        ci_checks=_names(env, "DRIFTLINE_CI_CHECKS"),
        blob_source=blob_source(env),
        scheduled_drift=_bool(env, "DRIFTLINE_SCHEDULED_DRIFT", False),
        scheduled_retrain=_bool(env, "DRIFTLINE_SCHEDULED_RETRAIN", False),
        sweep_enabled=_bool(env, "DRIFTLINE_SWEEP_ENABLED", True),
        cleanup_enabled=_bool(env, "DRIFTLINE_CLEANUP_ENABLED", True),
        drift_window_hours=_number(env, "DRIFTLINE_DRIFT_WINDOW_HOURS", 24.0, float, 0.01),
        step_max_retries=_number(env, "DRIFTLINE_STEP_MAX_RETRIES", 2, int, 0),
        step_lease_seconds=_number(env, "DRIFTLINE_STEP_LEASE_SECONDS", 300.0, float, 3.0, 86400.0),
        quality_metric=metric,
        task=task,
        unscorable_production=_choice(env, "DRIFTLINE_UNSCORABLE_PRODUCTION", "fail", UNSCORABLE_RULES),
        holdout_percent=_number(env, "DRIFTLINE_HOLDOUT_PERCENT", 20, int, 5, 50),
        canary_max_latency_ms=_number(env, "DRIFTLINE_CANARY_MAX_LATENCY_MS", 500.0, float, 0.001),
        canary_min_feedback=_number(env, "DRIFTLINE_CANARY_MIN_FEEDBACK", 20, int, 1),
        canary_confidence=_number(env, "DRIFTLINE_CANARY_CONFIDENCE", 0.95, float, 0.5, 0.9999),
        training_compute=compute,
        azureml=azureml_workspace(env, compute),
        code_source=code_source_settings(env),
        snapshot_max_bytes=_number(env, "DRIFTLINE_SNAPSHOT_MAX_BYTES", 50 * 1024 * 1024, int, 1024),
        snapshot_max_files=_number(env, "DRIFTLINE_SNAPSHOT_MAX_FILES", 5000, int, 1),
        labeled_max_bytes=_number(env, "DRIFTLINE_LABELED_MAX_BYTES", 512 * 1024 * 1024, int, 1024 * 1024),
        labeled_max_columns=_number(env, "DRIFTLINE_LABELED_MAX_COLUMNS", 1000, int, 2),
        new_columns=_names(env, "DRIFTLINE_NEW_COLUMNS"),
        dataset_max_age_days=_number(env, "DRIFTLINE_DATASET_MAX_AGE_DAYS", 0.0, float, 0.0),
        dataset_max_rows=_number(env, "DRIFTLINE_DATASET_MAX_ROWS", 0, int, 0),
        retrain_min_new_rows=_number(env, "DRIFTLINE_RETRAIN_MIN_NEW_ROWS", 1, int, 1),
        feedback_min_rows=_number(env, "DRIFTLINE_FEEDBACK_MIN_ROWS", 100, int, 1),
        feedback_max_share=_number(env, "DRIFTLINE_FEEDBACK_MAX_SHARE", 0.5, float, 0.0, 1.0),
        cost=cost_rates(env),
        timer_schedules=timer_schedules(env),
        trace_console=_bool(env, "DRIFTLINE_TRACE_CONSOLE", False),
        appinsights_connection_string=_text(env, "APPLICATIONINSIGHTS_CONNECTION_STRING", None),
    )

"""Fixtures for the lifecycle chain tests: the chain's functions, one model name per test, and a
`Chain` (tests/helpers/chain.py) on the test's MemoryStorage, or on Azurite as `azure_chain`."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import azure.functions as func
import pandas as pd
import pytest

from shared.platform import context, names
from shared.platform.azure_storage import AzureStorage
from shared.platform.memory_storage import MemoryStorage
from shared.platform.messages import StepMessage
from shared.platform.storage import Storage
from tests.helpers.chain import SAMPLE, SMALL_MODEL, Chain, stage_retrain
from tests.helpers.memory import MEMORY_CONNECTION
from tests.repo.gitrepo import GitRepo

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn"


@pytest.fixture(scope="session")
def functions() -> dict[str, Callable]:
    """The user functions of the chain and decisions blueprints, by name. (function_app.app can be
    indexed once per process and other test folders do that, so these blueprints get their own app.)"""
    from functions import chain, decisions

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(chain.bp)
    app.register_functions(decisions.bp)
    return {fn.get_function_name(): fn.get_user_function() for fn in app.get_functions()}


@pytest.fixture(scope="session")
def labeled_frame() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "labeled" / "customers.csv")


def chain_on(storage: Storage, functions, unique: str, monkeypatch) -> Iterator[Chain]:
    monkeypatch.setenv("DRIFTLINE_MODEL_NAME", f"m-{unique}")
    monkeypatch.setenv("DRIFTLINE_TRAINING_ENTRY_POINT", SMALL_MODEL)
    monkeypatch.setenv("DRIFTLINE_LATENCY_BUDGET_MS", "600000")
    monkeypatch.setenv("DRIFTLINE_LATENCY_REPETITIONS", "3")
    for name in ("DRIFTLINE_APPROVAL_REQUIRED", "DRIFTLINE_CANARY_PERCENT", "DRIFTLINE_NOTIFY_URL",
                 "DRIFTLINE_INTEGRATION_TESTS"):
        monkeypatch.delenv(name, raising=False)
    context.reset()
    yield Chain(storage, functions, f"m-{unique}", monkeypatch)
    context.reset()


@pytest.fixture
def chain(memory_env: MemoryStorage, functions, unique: str, monkeypatch) -> Iterator[Chain]:
    """The chain on the test's MemoryStorage."""
    yield from chain_on(memory_env, functions, unique, monkeypatch)


@pytest.fixture
def azure_chain(azure_env: str, azure_storage: AzureStorage, functions, unique: str, monkeypatch) -> Iterator[Chain]:
    """The chain on the session Azurite, its triggers connected through the app's settings."""
    yield from chain_on(azure_storage, functions, unique, monkeypatch)


@pytest.fixture(scope="session")
def trained_files(labeled_frame: pd.DataFrame) -> dict[str, bytes]:
    """The staged artifacts of one real retrain, made once, for tests about the later steps."""
    import uuid

    from shared.model import registry, training
    from shared.platform.settings import load_settings

    settings = load_settings({"AzureWebJobsStorage": MEMORY_CONNECTION, "DRIFTLINE_TRAINING_ENTRY_POINT": SMALL_MODEL})
    storage = MemoryStorage()
    model = f"fixture-{uuid.uuid4().hex[:8]}"
    message = StepMessage(run_id=uuid.uuid4().hex, step="retrain", model=model,
                          trigger={"kind": "manual"}, reason="fixture")
    data = training.LabeledData(frame=labeled_frame, files=[{"name": "x.csv", "etag": "e", "sha256": "s", "rows": 2000, "feedback": False}],
                                version="v")
    prefix = training.train_and_stage(storage, settings, message, data)["staging"]
    return {name: storage.get_bytes(names.MODELS, prefix + name)[0] for name in registry.ARTIFACTS}


@pytest.fixture
def quick_retrain(chain: Chain, trained_files: dict[str, bytes]) -> Callable[[str], None]:
    return lambda run_id: stage_retrain(chain, run_id, trained_files)


@pytest.fixture
def repo(tmp_path: Path, chain: Chain) -> GitRepo:
    """The example repository, its model renamed to this test's, committed on main and watched."""
    work = tmp_path / "churn"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    config = work / "driftline.toml"
    config.write_text(config.read_text().replace('name = "churn"', f'name = "{chain.model}"'))
    repository = GitRepo(work)
    repository.git("add", "-A")
    repository.git("commit", "-q", "-m", "the churn model")
    chain.configure(code_source=f"git:{work}")
    return repository


@pytest.fixture
def push(chain: Chain, repo: GitRepo, labeled_frame: pd.DataFrame) -> Callable[[str], str]:
    """Start a push run of the repository's HEAD on the labeled sample data; returns the run id."""
    from shared.chain import runs

    def start(plan: str) -> str:
        commit = repo.git("rev-parse", "HEAD")
        run_id, _ = runs.start_run(chain.storage, plan=plan, model=chain.model, reason=f"push {commit[:7]}",
                                   trigger={"kind": "push", "commit": commit, "branch": "main"},
                                   payload={"commit": commit, "blobs": [chain.upload(labeled_frame, "data.csv")]})
        return run_id

    return start

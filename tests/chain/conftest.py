"""Fixtures for the lifecycle chain tests: the chain's functions, one model name per test, and a
`Chain` helper that uploads labeled data, starts runs and feeds their queue messages to the triggers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pandas as pd
import pytest

from shared.chain import runs
from shared.platform import context, names
from shared.platform.messages import StepMessage
from shared.platform.storage import Storage

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
STEP_QUEUES = (names.RETRAIN_QUEUE, names.REGISTER_QUEUE, names.TEST_QUEUE, names.DEPLOY_QUEUE)


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


class Chain:
    def __init__(self, storage: Storage, functions: dict[str, Callable], model: str, monkeypatch):
        self.storage = storage
        self.functions = functions
        self.model = model
        self.monkeypatch = monkeypatch

    def configure(self, **settings: str) -> None:
        """Set DRIFTLINE_<NAME> app settings for the rest of the test."""
        for key, value in settings.items():
            self.monkeypatch.setenv(f"DRIFTLINE_{key.upper()}", value)
        context.reset()

    def upload(self, frame: pd.DataFrame | bytes, name: str) -> str:
        blob = f"{names.LABELED_PREFIX}{self.model}/{name}"
        data = frame if isinstance(frame, bytes) else frame.to_csv(index=False).encode()
        self.storage.put_bytes(names.DATALAKE, blob, data)
        return blob

    def start(self, blobs: list[str] | None = None, plan: str = "full", trigger: dict | None = None) -> str:
        run_id, _ = runs.start_run(
            self.storage, plan=plan, model=self.model, reason="test",
            trigger=trigger or {"kind": "upload", "commit": "c0ffee", "repo": "org/app", "branch": "main"},
            payload={} if blobs is None else {"blobs": blobs},
        )
        return run_id

    def take(self, queue: str, run_id: str | None = None) -> list[str]:
        """Remove and return the bodies of this run's (or this model's) messages on a queue."""
        client = self.storage.queue(queue)
        bodies = []
        for raw in client.receive_messages(messages_per_page=32, visibility_timeout=2):
            try:
                data = json.loads(raw.content)
            except json.JSONDecodeError:
                continue
            mine = data.get("run_id") == run_id if run_id else data.get("model") == self.model
            if mine:
                bodies.append(raw.content)
                client.delete_message(raw)
        return bodies

    def deliver(self, queue: str, body: str) -> None:
        self.functions[queue](func.QueueMessage(body=body.encode()))

    def pump(self, run_id: str, *, limit: int = 10) -> list[str]:
        """Feed this run's step messages to their triggers until none is left; returns the steps run."""
        done = []
        for _ in range(limit):
            pending = [(queue, body) for queue in STEP_QUEUES for body in self.take(queue, run_id)]
            if not pending:
                return done
            for queue, body in pending:
                self.deliver(queue, body)
                done.append(StepMessage.from_json(body).step)
        raise AssertionError(f"run {run_id} still had messages after {limit} rounds: {done}")

    def notifications(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.take(names.NOTIFY_QUEUE)]

    def run(self, run_id: str) -> dict[str, Any]:
        return runs.get_run(self.storage, run_id)

    def http(self, function: str, route: str, body: Any, **params: str) -> func.HttpResponse:
        request = func.HttpRequest(
            method="POST", url=f"http://localhost/api/{route}", route_params=params,
            body=body if isinstance(body, bytes) else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        return self.functions[function](request)

    def train_version(self, frame: pd.DataFrame, name: str = "data.csv") -> tuple[str, int]:
        """Upload, then run retrain + register + test + deploy; returns (run id, version)."""
        run_id = self.start([self.upload(frame, name)])
        self.pump(run_id)
        run = self.run(run_id)
        assert run["status"] == "succeeded", run["events"][-3:]
        return run_id, run["steps"]["register"]["outputs"]["version"]


@pytest.fixture
def chain(storage_env: str, storage: Storage, functions, unique: str, monkeypatch) -> Iterator[Chain]:
    monkeypatch.setenv("DRIFTLINE_MODEL_NAME", f"m-{unique}")
    monkeypatch.setenv("DRIFTLINE_TRAINING_ENTRY_POINT", "chain_entry_points:small")
    monkeypatch.setenv("DRIFTLINE_LATENCY_BUDGET_MS", "600000")
    monkeypatch.setenv("DRIFTLINE_LATENCY_REPETITIONS", "3")
    for name in ("DRIFTLINE_APPROVAL_REQUIRED", "DRIFTLINE_CANARY_PERCENT", "DRIFTLINE_NOTIFY_URL",
                 "DRIFTLINE_INTEGRATION_TESTS"):
        monkeypatch.delenv(name, raising=False)
    context.reset()
    yield Chain(storage, functions, f"m-{unique}", monkeypatch)
    context.reset()


@pytest.fixture(scope="session")
def trained_files(connection_string: str, labeled_frame: pd.DataFrame) -> dict[str, bytes]:
    """The staged artifacts of one real retrain, made once, for tests about the later steps."""
    import uuid

    from shared.model import registry, training
    from shared.platform.settings import load_settings

    settings = load_settings({"AzureWebJobsStorage": connection_string,
                              "DRIFTLINE_TRAINING_ENTRY_POINT": "chain_entry_points:small"})
    storage = Storage.connect(settings.storage)
    model = f"fixture-{uuid.uuid4().hex[:8]}"
    message = StepMessage(run_id=uuid.uuid4().hex, step="retrain", model=model,
                          trigger={"kind": "manual"}, reason="fixture")
    data = training.LabeledData(frame=labeled_frame, blobs=[{"name": "x.csv", "etag": "e", "rows": 2000}],
                                version="v")
    prefix = training.train_and_stage(storage, settings, message, data)["staging"]
    return {name: storage.get_bytes(names.MODELS, prefix + name)[0] for name in registry.ARTIFACTS}


def stage_retrain(chain: "Chain", run_id: str, files: dict[str, bytes]) -> None:
    """Do a run's retrain step with ready-made artifacts (the retrain trigger has its own tests)."""
    from shared.model import registry

    body = chain.take(names.RETRAIN_QUEUE, run_id)[0]
    message = StepMessage.from_json(body)
    assert runs.begin_step(chain.storage, message).proceed
    prefix = registry.stage(chain.storage, chain.model, run_id, files)
    runs.complete_step(chain.storage, message, {"staging": prefix, "data_version": "v", "rows": 2000})


@pytest.fixture
def quick_retrain(chain: Chain, trained_files: dict[str, bytes]) -> Callable[[str], None]:
    return lambda run_id: stage_retrain(chain, run_id, trained_files)

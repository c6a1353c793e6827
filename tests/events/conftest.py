"""Fixtures for the event-source tests: per-test settings on the session Azurite, the app's user
functions, and a production model registered through the real registry with a real drift profile."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from event_data import FEATURES, TARGET, frame
from shared import context, names, registry
from shared.settings import StorageConnection
from shared.storage import Storage

GITHUB_SECRET = "gh-test-secret"
ADO_SECRET = "ado-test-secret"


@pytest.fixture
def storage(connection_string: str) -> Storage:
    return Storage.connect(StorageConnection(connection_string=connection_string))


@pytest.fixture
def model_name(unique: str) -> str:
    return f"ev-{unique}"


@pytest.fixture
def env(storage_env: str, model_name: str, monkeypatch) -> Iterator[Callable[..., None]]:
    """Settings for one test's model; call the fixture's value to change settings mid-test."""

    def apply(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        context.reset()

    apply(
        DRIFTLINE_MODEL_NAME=model_name,
        DRIFTLINE_TARGET_COLUMN=TARGET,
        DRIFTLINE_GITHUB_SECRET=GITHUB_SECRET,
        DRIFTLINE_ADO_SECRET=ADO_SECRET,
        DRIFTLINE_BRANCHES="main,release",
        DRIFTLINE_RETRAIN_COALESCE_SECONDS="0",
        DRIFTLINE_WAIT_FOR_CI="false",
    )
    yield apply
    context.reset()


@pytest.fixture(scope="session")
def functions() -> dict[str, Callable]:
    """The app's user functions by name (indexed through devhost's per-app cache: a FunctionApp can
    be indexed only once per process, and the end-to-end tests index it through devhost)."""
    from devhost.metadata import app_functions
    from function_app import app

    return {fn.get_function_name(): fn.get_user_function() for fn in app_functions(app)}


@pytest.fixture
def production(storage: Storage, model_name: str, unique: str) -> int:
    """Register version 1 of the test's model, with a profile of `frame(seed=1)`, as production."""
    from shared.drift import build_profile

    reference = frame(2000, seed=1)
    profile = build_profile(reference[FEATURES], name=f"{model_name}-v1")
    schema = {"target": TARGET, "features": [{"name": name, "dtype": "float64"} for name in FEATURES]}
    run_id = f"seed-{unique}"
    registry.stage(storage, model_name, run_id, {
        "model.skops": b"not loaded by these tests",
        "profile.json": profile.to_json(),
        "metrics.json": json.dumps({"accuracy": 0.9}).encode(),
        "lineage.json": json.dumps({"run_id": run_id}).encode(),
        "schema.json": json.dumps(schema).encode(),
        "holdout.parquet": b"not loaded by these tests",
    })
    version = registry.register(storage, model_name, run_id)
    registry.move_alias(storage, model_name, "production", version, why="test setup", by="tests")
    return version


def queued(storage: Storage, queue: str) -> list[dict]:
    """Every message visible on a queue (peeked, not removed), parsed as JSON."""
    return [json.loads(m.content) for m in storage.queue(queue).peek_messages(max_messages=32)]


def runs_of(storage: Storage, model: str) -> list[dict]:
    found = []
    for item in storage.list(names.RUNS):
        if "/" in item.name:
            continue
        run = storage.read_json(names.RUNS, item.name).value
        if run["model"] == model:
            found.append(run)
    return found


@pytest.fixture
def clean_queues(storage: Storage) -> None:
    """Empty the chain's queues, so a test sees only the messages it caused (tests run one at a time)."""
    for queue in names.QUEUES:
        storage.queue(queue).clear_messages()


def drain(storage: Storage, functions: dict[str, Callable], queue: str = names.PUSH_QUEUE,
          function: str = "on_push") -> int:
    """Deliver every message on `queue` to the app's queue function, as the host would; returns the count."""
    import azure.functions as func

    count = 0
    client = storage.queue(queue)
    while True:
        batch = list(client.receive_messages(max_messages=32, visibility_timeout=30))
        if not batch:
            return count
        for message in batch:
            functions[function](func.QueueMessage(id=message.id, body=message.content.encode()))
            client.delete_message(message)
            count += 1


def messages_for(storage: Storage, queue: str, run_id: str) -> list[dict]:
    return [m for m in queued(storage, queue) if m.get("run_id") == run_id]

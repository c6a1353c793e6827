"""Fixtures for the event-source tests: per-test settings with the app on the test's MemoryStorage,
the app's user functions, and a production model registered through the real registry with a real
drift profile."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from shared.model import registry
from shared.platform import context
from shared.platform.storage import Storage
from tests.helpers.event_data import ADO_SECRET, FEATURES, GITHUB_SECRET, TARGET, frame


@pytest.fixture
def model_name(unique: str) -> str:
    return f"ev-{unique}"


@pytest.fixture
def env(memory_env: Storage, model_name: str, monkeypatch) -> Iterator[Callable[..., None]]:
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


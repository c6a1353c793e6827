"""Fixtures for the HTTP API tests: a real small model in a real registry on the test's
MemoryStorage, and a way to call the app's HTTP functions with real `func.HttpRequest` objects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func
import pytest

from shared.platform import context
from shared.serving import scoring
from tests.helpers.api import Trained, train


@pytest.fixture(scope="session")
def trained() -> tuple[Trained, Trained]:
    """Two models that disagree (the second predicts the opposite class), so tests can tell which served."""
    return train(1, flip=False), train(2, flip=True)


@pytest.fixture
def model_name(unique: str) -> str:
    return f"m-{unique}"


@pytest.fixture
def api_env(memory_env, model_name: str, monkeypatch) -> Iterator[dict[str, str]]:
    """Settings for one test's model, the app on the test's MemoryStorage: alias checked on every
    request, small log batches. Resets the process-wide context and scorer before and after."""
    env = {
        "DRIFTLINE_MODEL_NAME": model_name,
        "DRIFTLINE_ALIAS_CHECK_SECONDS": "0",
        "DRIFTLINE_SCORING_LOG_BATCH": "1000",
        "DRIFTLINE_SCORING_LOG_FLUSH_SECONDS": "3600",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    scoring.reset()
    context.reset()
    yield env
    scoring.reset()
    context.reset()


@pytest.fixture(scope="session")
def functions() -> dict[str, Callable[[func.HttpRequest], func.HttpResponse]]:
    """The app's user functions by name (an app can be indexed once per process, so the index is
    shared with the runner's)."""
    from devhost.metadata import app_functions
    from function_app import app

    return {fn.get_function_name(): fn.get_user_function() for fn in app_functions(app)}


@pytest.fixture
def call(functions) -> Callable[..., func.HttpResponse]:
    """Call one of the app's HTTP functions by name with a real HttpRequest."""

    def invoke(name: str, *, method: str = "GET", url: str = "/api/", body: Any = None,
               raw: bytes | None = None, headers: dict[str, str] | None = None,
               route_params: dict[str, str] | None = None) -> func.HttpResponse:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        request = func.HttpRequest(method, f"http://localhost{url}", headers=headers or {},
                                   route_params=route_params or {}, body=data)
        return functions[name](request)

    return invoke

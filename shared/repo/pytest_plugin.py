"""Fixtures for the repository's integration tests: a pytest plugin loaded in the sandbox child with
`-p shared.repo.pytest_plugin` (shared.repo.testrun passes it, and the variables below).

- `model`: the candidate estimator, from the `model.skops` file the parent wrote. skops loads it only
  when every type the file needs starts with one of the trusted prefixes the parent passed; any
  other type refuses the load (`UntrustedModel`, the tests using it error) before anything of the
  file is executed.
- `holdout`: the held-out rows, a pandas DataFrame with the target column; a fresh copy per test.
- `target`: the name of the target column.
- `predict`, `predict_proba`: callables taking a DataFrame or a list of record dicts (the target
  column, if present, is dropped) and returning a list. They go through the release's inference
  module, `predict(model, frame)` / `predict_proba(model, frame)`, when driftline.toml has
  `[inference]` (a module without `predict_proba` falls back to the model's), else through the
  model's own methods.

The parent passes file paths and names in the sandbox's own variables (`variables()` builds them):
DRIFTLINE_SANDBOX_MODEL, DRIFTLINE_SANDBOX_HOLDOUT, DRIFTLINE_SANDBOX_TRUSTED (comma-separated type
prefixes), DRIFTLINE_SANDBOX_TARGET and, with `[inference]`, DRIFTLINE_SANDBOX_INFERENCE. The plugin
imports pytest, and skops and pandas when a fixture needs them; nothing of the app's storage or settings.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from shared.platform.errors import DriftlineError

MODEL = "DRIFTLINE_SANDBOX_MODEL"
HOLDOUT = "DRIFTLINE_SANDBOX_HOLDOUT"
TRUSTED = "DRIFTLINE_SANDBOX_TRUSTED"
TARGET = "DRIFTLINE_SANDBOX_TARGET"
INFERENCE = "DRIFTLINE_SANDBOX_INFERENCE"


class UntrustedModel(DriftlineError):
    """The model file needs types outside the trusted prefixes; it is not loaded."""


def variables(*, model: Path, holdout: Path, trusted: Sequence[str], target: str,
              inference: str | None) -> dict[str, str]:
    """The sandbox variables the fixtures read, for the parent to pass to the child."""
    found = {MODEL: str(model), HOLDOUT: str(holdout), TRUSTED: ",".join(trusted), TARGET: target}
    return found | ({INFERENCE: inference} if inference else {})


def load_model(data: bytes, trusted: Sequence[str]) -> Any:
    """The estimator in a skops file; raises UntrustedModel if it needs a type outside `trusted`."""
    import skops.io as sio

    needed = sio.get_untrusted_types(data=data)
    refused = [name for name in needed if not name.startswith(tuple(trusted))]
    if refused:
        raise UntrustedModel(f"the model file holds types outside the trusted prefixes ({', '.join(trusted)}): "
                             f"{', '.join(refused)}.")
    return sio.loads(data, trusted=needed)


def _variable(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: the integration fixtures run only in Driftline's sandbox.", pytrace=False)
    return value


@pytest.fixture(scope="session")
def model() -> Any:
    trusted = [prefix for prefix in _variable(TRUSTED).split(",") if prefix]
    return load_model(Path(_variable(MODEL)).read_bytes(), trusted)


@pytest.fixture(scope="session")
def target() -> str:
    return _variable(TARGET)


@pytest.fixture(scope="session")
def _holdout_rows() -> Any:
    import pandas as pd

    return pd.read_parquet(_variable(HOLDOUT))


@pytest.fixture
def holdout(_holdout_rows: Any) -> Any:
    return _holdout_rows.copy()


@pytest.fixture(scope="session")
def _inference_module() -> Any:
    name = os.environ.get(INFERENCE)
    return importlib.import_module(name) if name else None


@pytest.fixture
def predict(model: Any, target: str, _inference_module: Any) -> Callable[[Any], list[Any]]:
    if _inference_module is None:
        return _through(model.predict, target)
    if not callable(getattr(_inference_module, "predict", None)):
        pytest.fail(f"the inference module {_inference_module.__name__} has no predict(model, frame).", pytrace=False)
    return _through(lambda frame: _inference_module.predict(model, frame), target)


@pytest.fixture
def predict_proba(model: Any, target: str, _inference_module: Any) -> Callable[[Any], list[Any]]:
    function = getattr(_inference_module, "predict_proba", None)
    if callable(function):
        return _through(lambda frame: function(model, frame), target)
    if not hasattr(model, "predict_proba"):
        pytest.fail("the model has no predict_proba, and no inference module provides one.", pytrace=False)
    return _through(model.predict_proba, target)


def _through(function: Callable[[Any], Any], target: str) -> Callable[[Any], list[Any]]:
    """`function` on a DataFrame made from a DataFrame or records, without the target; a list back."""

    def call(rows: Any) -> list[Any]:
        import pandas as pd

        if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
            frame = pd.DataFrame.from_records(rows)
        elif isinstance(rows, pd.DataFrame):
            frame = rows
        else:
            raise TypeError(f"predict takes a DataFrame or a list of record dicts, not {type(rows).__name__}.")
        result = function(frame.drop(columns=[target], errors="ignore"))
        return result.tolist() if hasattr(result, "tolist") else list(result)

    return call

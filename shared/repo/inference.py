"""A release's inference code, loaded in this process from its snapshot, beside other releases'.

`Predictor` is what scores a frame: the `[inference]` module's `predict(model, frame)` (and
`predict_proba`, when it has one), or the estimator's own methods when the repository has no
`[inference]` section.

`load_predictor(root, module, estimator)` imports the module with the snapshot at `root` first on the
path, then takes every module it loaded from that snapshot out of `sys.modules` again: the loaded
functions keep their own globals, so the predictor works, and the next snapshot (a canary, the next
release) can load its own `training.features` without finding this one's. Loads are serialised (the
path and the module table are process-wide). Consequence for repository code: its imports are
resolved when the release loads; an import done later, inside a function call, is not supported.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.platform.errors import DriftlineError

_LOCK = threading.Lock()


class InferenceCodeError(DriftlineError):
    """The release's inference module cannot be loaded or lacks `predict`; the message says which."""


@dataclass(frozen=True)
class Predictor:
    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None
    source: str  # "estimator" or the module name
    estimator: Any  # the fitted model both of them score with


def estimator_predictor(estimator: Any) -> Predictor:
    return Predictor(estimator.predict, getattr(estimator, "predict_proba", None), "estimator", estimator)


def load_predictor(root: Path, module: str | None, estimator: Any) -> Predictor:
    if module is None:
        return estimator_predictor(estimator)
    loaded = load_module(root, module)
    predict = getattr(loaded, "predict", None)
    if not callable(predict):
        raise InferenceCodeError(f"the inference module {module} has no predict(model, frame) function.")
    proba = getattr(loaded, "predict_proba", None)
    return Predictor(lambda frame: predict(estimator, frame),
                     None if not callable(proba) else (lambda frame: proba(estimator, frame)), module, estimator)


def load_module(root: Path, module: str) -> Any:
    """Import `module` from the snapshot at `root`, leaving no module of the snapshot in sys.modules."""
    root = root.resolve()
    with _LOCK:
        sys.path.insert(0, str(root))
        try:
            return importlib.import_module(module)
        except Exception as error:
            raise InferenceCodeError(f"the inference module {module} cannot be loaded: "
                                     f"{type(error).__name__}: {error}") from None
        finally:
            sys.path.remove(str(root))
            for name, loaded in list(sys.modules.items()):
                location = getattr(loaded, "__file__", None)
                if location and Path(location).resolve().is_relative_to(root):
                    del sys.modules[name]

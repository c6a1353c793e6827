"""Inside the sandbox: train with the repository's entry point, from the snapshot, and report.

Run by `train_in_sandbox` as `python -m shared.repo.train_runner`, with the snapshot root first on the
path and a scratch folder as working directory; it never sees storage or the app's settings. The
parent leaves in the scratch folder `train.parquet` (the rows to fit on, with the target),
`holdout.parquet` (held-out features, no target) and `job.json` ({entry_point, params, inference});
the child writes `model.skops`, `metrics.json` (what the entry point returned),
`predictions.json` (on the held-out rows, through the `[inference]` module when there is one, else the
estimator; probabilities when it gives them) and `imported.json` (every file of the snapshot the run
imported, relative to its root), or `error.json` ({type, message, traceback}) and exit code 1.

`train_in_sandbox` is the parent's side: it writes the inputs, runs the child within the limits, and
returns what the child wrote, or raises `TrainingFailed` with a one-sentence reason.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.platform.errors import DriftlineError

APP_ROOT = Path(__file__).resolve().parents[2]


class TrainingFailed(DriftlineError):
    """The repository's training did not produce a model; the message says why, `traceback` is the
    user code's (or the child's last output) when there is one."""

    def __init__(self, message: str, traceback: str | None = None):
        super().__init__(message)
        self.traceback = traceback


@dataclass(frozen=True)
class Trained:
    model: bytes  # skops
    metrics: dict[str, Any]
    predictions: dict[str, Any]  # predictions, probabilities (or None), classes (or None)
    imported: tuple[str, ...]  # snapshot files the training imported, relative paths
    duration_s: float


def train_in_sandbox(root: Path, *, entry_point: str, params: dict[str, Any], inference: str | None,
                     train: Any, holdout_features: Any, limits: Any = None) -> Trained:
    """Train from the snapshot at `root` on `train` (a DataFrame with the target) in the sandbox."""
    from shared.repo.sandbox import Limits, run_module, scratch

    with scratch() as folder:
        train.to_parquet(folder / "train.parquet", index=False)
        holdout_features.to_parquet(folder / "holdout.parquet", index=False)
        (folder / "job.json").write_text(json.dumps(
            {"entry_point": entry_point, "params": params, "inference": inference, "root": str(root.resolve())},
            default=str))
        result = run_module(__name__, [], root=root, folder=folder, pythonpath=(APP_ROOT,),
                            limits=limits or Limits())
        if result.timed_out:
            raise TrainingFailed(f"training with {entry_point} timed out after {result.duration_s:.0f} s.")
        if result.memory_exceeded:
            raise TrainingFailed(f"training with {entry_point} exceeded the memory limit.")
        error = folder / "error.json"
        if error.is_file():
            detail = json.loads(error.read_text())
            raise TrainingFailed(f"the training entry point {entry_point} raised {detail['type']}: "
                                 f"{detail['message']}", detail["traceback"])
        if result.exit_code != 0 or not (folder / "model.skops").is_file():
            raise TrainingFailed(f"training with {entry_point} ended with exit code {result.exit_code}.",
                                 result.stderr_tail[-4000:] or None)
        return Trained(
            model=(folder / "model.skops").read_bytes(),
            metrics=json.loads((folder / "metrics.json").read_text()),
            predictions=json.loads((folder / "predictions.json").read_text()),
            imported=tuple(json.loads((folder / "imported.json").read_text())),
            duration_s=result.duration_s,
        )


def _imported(root: Path) -> list[str]:
    files = set()
    for module in list(sys.modules.values()):
        location = getattr(module, "__file__", None)
        if location:
            path = Path(location).resolve()
            if path.is_relative_to(root):
                files.add(path.relative_to(root).as_posix())
    return sorted(files)


def _call(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _predictors(estimator: Any, inference: str | None) -> tuple[Any, Any]:
    """(predict, predict_proba or None) on a frame: the [inference] module's, else the estimator's."""
    if inference is None:
        return estimator.predict, getattr(estimator, "predict_proba", None)
    module = importlib.import_module(inference)
    proba = getattr(module, "predict_proba", None)
    return (lambda frame: module.predict(estimator, frame)), (
        None if proba is None else (lambda frame: proba(estimator, frame)))


def _listed(values: Any) -> Any:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def main() -> int:
    import pandas as pd
    import skops.io as sio

    job = json.loads(Path("job.json").read_text())
    try:
        result = _call(job["entry_point"])(pd.read_parquet("train.parquet"), dict(job["params"]))
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise TypeError("the training entry point must return (estimator, metrics dict)")
        estimator, metrics = result
        holdout = pd.read_parquet("holdout.parquet")
        predict, predict_proba = _predictors(estimator, job["inference"])
        classes = getattr(estimator, "classes_", None)
        Path("model.skops").write_bytes(sio.dumps(estimator))
        Path("metrics.json").write_text(json.dumps(metrics, default=_plain))
        Path("predictions.json").write_text(json.dumps({
            "predictions": _listed(predict(holdout)),
            "probabilities": None if predict_proba is None else _listed(predict_proba(holdout)),
            "classes": None if classes is None else _listed(classes),
        }, default=_plain))
        Path("imported.json").write_text(json.dumps(_imported(Path(job["root"]))))
    except Exception as error:  # the repository's code: reported to the parent, which stops the run
        Path("error.json").write_text(json.dumps({
            "type": type(error).__name__, "message": str(error),
            "traceback": "".join(traceback.format_exc().splitlines(keepends=True)[-20:]),
        }))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

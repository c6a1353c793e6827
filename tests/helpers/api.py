"""Helpers for the HTTP API tests: a real small model, registered with the registry's own write API."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from shared.model import registry
from shared.platform.storage import Storage

FEATURES = ("x1", "x2", "n")


@dataclass(frozen=True)
class Trained:
    """A fitted pipeline, the rows it was trained on, and its skops bytes."""

    estimator: Any
    frame: Any  # pandas.DataFrame with the target column "label"
    model_bytes: bytes


def train(seed: int, flip: bool) -> Trained:
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(size=200),
        "x2": rng.normal(size=200),
        "n": rng.integers(0, 10, size=200),
    })
    signal = frame["x1"] + 0.5 * frame["x2"] > 0
    frame["label"] = (~signal if flip else signal).astype(int)
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame[list(FEATURES)], frame["label"])
    return Trained(estimator, frame, sio.dumps(estimator))


def register_version(storage: Storage, model: str, trained: Trained, *, run_id: str) -> int:
    """Stage and register a version with the registry's own write API, as the chain does."""
    from shared.drift import build_profile
    from shared.model.training import input_schema

    frame = trained.frame
    holdout = io.BytesIO()
    frame.tail(40).to_parquet(holdout, index=False)
    lineage = {
        "run_id": run_id,
        "model": model,
        "trigger": {"kind": "push", "commit": f"c0ffee{run_id[-4:]}", "repo": "org/driftline"},
        "reason": "test registration",
        "code": {"entry_point": "shared.model.default_model:train", "source_sha256": "ab" * 32,
                 "commit": f"c0ffee{run_id[-4:]}", "repo": "org/driftline", "branch": "main"},
        "data": {"version": f"data-{run_id}", "blobs": [{"name": "labeled/a.csv", "etag": "0x1", "rows": 200}]},
        "parameters": {"seed": 0, "target_column": "label"},
        "libraries": {"scikit-learn": "test"},
        "timings": {"train_s": 0.1},
    }
    registry.stage(storage, model, run_id, {
        "model.skops": trained.model_bytes,
        "profile.json": build_profile(frame[list(FEATURES)], name=model).to_json(),
        "metrics.json": json.dumps({"holdout": {"accuracy": 0.9}}).encode(),
        "lineage.json": json.dumps(lineage).encode(),
        "schema.json": json.dumps(input_schema(frame, "label")).encode(),
        "holdout.parquet": holdout.getvalue(),
    })
    return registry.register(storage, model, run_id)


def point(storage: Storage, model: str, version: int, alias: str = "production", percent: int | None = None) -> None:
    """Move an alias, as the deploy step does."""
    registry.move_alias(storage, model, alias, version, why="test", by="tests", percent=percent)


def payload(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def rows(trained: Trained, count: int, start: int = 0) -> list[dict[str, Any]]:
    """Training rows as JSON records (features only)."""
    return [
        {"x1": float(r.x1), "x2": float(r.x2), "n": int(r.n)}
        for r in trained.frame.iloc[start:start + count].itertuples()
    ]

"""Fixtures of the sandbox tests: the example repository (in place, or a copy to change), and a
candidate churn model trained in process by the example's own train() on the sample data, saved
with skops as the chain saves it."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import pytest

from shared.repo.config import load_config
from shared.repo.testrun import Candidate
from tests.sandbox.paths import EXAMPLE, SAMPLE


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A copy of examples/churn to change."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "churn", ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")))


@pytest.fixture(scope="session")
def candidate() -> Candidate:
    """The example trained on the sample data's training rows; its holdout as the chain splits it."""
    import pandas as pd
    import skops.io as sio

    from shared.model.registry import trusted_prefixes_for
    from shared.model.training import split_holdout

    config = load_config(EXAMPLE)
    frame = pd.read_csv(SAMPLE)
    train_rows, holdout_rows = split_holdout(frame, 20)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE))
        patch.setattr(sys, "dont_write_bytecode", True)  # the example folder stays as committed
        try:
            from training.train import train

            estimator, _ = train(train_rows, {"seed": 0, **config.training.params,
                                              "target_column": config.model.target})
        finally:
            for name in [n for n in sys.modules if n == "training" or n.startswith("training.")]:
                del sys.modules[name]
    holdout = io.BytesIO()
    holdout_rows.to_parquet(holdout, index=False)
    trusted = trusted_prefixes_for({"code": {"entry_point": config.training.entry_point}})
    return Candidate(model=sio.dumps(estimator), holdout=holdout.getvalue(), trusted_prefixes=trusted)

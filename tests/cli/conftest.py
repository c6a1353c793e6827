"""The CLI as `./driftline <command>` runs it: typer's CliRunner over `cli.main.app`, with the settings
from a local.settings.json of the test's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app


def cli_runner(settings_file: Path) -> Callable[..., str]:
    """`run(*args, code=0, input=None)`: the command's output (stdout and stderr), after checking its
    exit code and that no traceback was printed."""
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None) -> str:
        result = runner.invoke(app, ["--settings", str(settings_file), *args], input=input, env={"COLUMNS": "200"})
        assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output
        return result.output

    return run


def write_settings(path: Path, values: dict[str, str]) -> Path:
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path

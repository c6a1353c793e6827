"""Where the CLI's settings come from: local.settings.json's Values with the environment over them,
as `./driftline start` gives them to the app, validated by `shared.platform.settings`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cli.errors import CliError
from shared.platform.settings import ClientSettings, Settings, client_settings, load_settings

if TYPE_CHECKING:
    from shared.platform.storage import Storage

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = "local.settings.json"


def settings_file(given: Path | None) -> Path | None:
    """The settings file to read: the one given, else ./local.settings.json, else the project's."""
    if given is not None:
        if not given.is_file():
            raise CliError(f"settings file {given} does not exist.")
        return given
    for candidate in (Path.cwd() / SETTINGS_FILE, ROOT / SETTINGS_FILE):
        if candidate.is_file():
            return candidate
    return None


def read_values(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    except (OSError, ValueError, AttributeError) as error:
        raise CliError(f"{path} is not a local.settings.json (a JSON object with Values): {error}") from None
    if not isinstance(values, dict):
        raise CliError(f"{path}: Values must be a JSON object.")
    return {str(key): str(value) for key, value in values.items()}


@dataclass
class Config:
    """The environment the CLI works in; settings and storage are made on first use."""

    env: dict[str, str]

    @classmethod
    def load(cls, given: Path | None = None) -> "Config":
        return cls({**read_values(settings_file(given)), **os.environ})

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.env)

    @cached_property
    def client(self) -> ClientSettings:
        return client_settings(self.env)

    @cached_property
    def storage(self) -> "Storage":
        from shared.platform import azure_storage

        return azure_storage.connect(self.settings.storage)

"""Shared fixtures, in two tiers.

Unit tier (no Node, no emulator): `storage` is a fresh `MemoryStorage` per test, and `memory_env`
makes the app's handlers use it through `shared.platform.context.storage()`.

Azurite tier: `azurite` is one real Azurite per test session, on free ports, in a temporary folder;
`connection_string`, `azure_storage` (the `AzureStorage` on it) and `azure_env` (the app's settings
pointed at it) build on it; `module_azurite` is a fresh one for a module of its own. Every test that
uses either, directly or through other fixtures, is marked `azurite`, so `pytest -m "not azurite"`
runs the unit tier alone. Without Node they fail (they do not skip), so a missing emulator is never
mistaken for a pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from shared.platform import context
from shared.platform.azure_storage import AzureStorage, connect
from shared.platform.memory_storage import MemoryStorage
from shared.platform.settings import StorageConnection
from tests.helpers.memory import MEMORY_CONNECTION

# The fixtures that start an emulator; a test using either (directly or through other fixtures) is
# marked `azurite`.
AZURITE_FIXTURES = ("azurite", "module_azurite")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `azurite` every test that needs the emulator (the fixture closure includes fixtures of
    fixtures; parametrized tests that pick Azure per parameter mark that parameter themselves)."""
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in AZURITE_FIXTURES):
            item.add_marker(pytest.mark.azurite)


def running_azurite(folder: Path) -> Iterator[Azurite]:
    """Start an Azurite with its data in `folder`, stopped when the fixture ends; fails the test
    (not a skip) when Node or Azurite is missing."""
    missing: str | None = None
    try:
        running = Azurite(folder).start()
    except FileNotFoundError as error:
        missing = str(error)
    if missing is not None:  # failed outside the except block, so the report is this one line
        pytest.fail(f"this test needs Azurite: {missing}", pytrace=False)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[Azurite]:
    """The Azurite all the session's Azurite tests share (they keep apart by unique names)."""
    yield from running_azurite(tmp_path_factory.mktemp("azurite"))


@pytest.fixture(scope="module")
def module_azurite(tmp_path_factory) -> Iterator[Azurite]:
    """A fresh Azurite for one test module, which sees no other module's blobs or messages."""
    yield from running_azurite(tmp_path_factory.mktemp("azurite-module"))


@pytest.fixture(scope="session")
def connection_string(azurite: Azurite) -> str:
    return azurite.endpoints.connection_string


@pytest.fixture
def azure_storage(connection_string: str) -> AzureStorage:
    """The project's Azure storage layer on the session Azurite."""
    return connect(StorageConnection(connection_string=connection_string))


@pytest.fixture
def azure_env(connection_string: str, monkeypatch) -> Iterator[str]:
    """Point the app's settings (and `context.storage()`) at the session Azurite; returns the
    connection string."""
    monkeypatch.setenv("AzureWebJobsStorage", connection_string)
    context.reset()
    yield connection_string
    context.reset()


@pytest.fixture
def storage() -> MemoryStorage:
    """A fresh in-memory storage: the core's storage in unit tests."""
    return MemoryStorage()


@pytest.fixture
def memory_env(storage: MemoryStorage, monkeypatch) -> Iterator[MemoryStorage]:
    """The app on the test's MemoryStorage: `context.storage()` answers it, and the settings get a
    connection string nothing connects to; returns the storage."""
    monkeypatch.setenv("AzureWebJobsStorage", MEMORY_CONNECTION)
    context.use_storage(storage)
    context.reset()
    yield storage
    context.use_storage(None)
    context.reset()


@pytest.fixture
def unique() -> str:
    """A short unique token for names, so tests sharing one Azurite do not see each other."""
    return uuid.uuid4().hex[:8]

"""Shared fixtures: one real Azurite per test session, on free ports, in a temporary folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite
from shared.platform.settings import StorageConnection
from shared.platform.storage import Storage


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[Azurite]:
    with Azurite(tmp_path_factory.mktemp("azurite")) as running:
        yield running


@pytest.fixture(scope="session")
def connection_string(azurite: Azurite) -> str:
    return azurite.endpoints.connection_string


@pytest.fixture
def storage(connection_string: str) -> Storage:
    """The project's storage layer on the session Azurite."""
    return Storage.connect(StorageConnection(connection_string=connection_string))


@pytest.fixture
def storage_env(connection_string: str, monkeypatch) -> str:
    """Point the app's settings at the session Azurite; returns the connection string."""
    monkeypatch.setenv("AzureWebJobsStorage", connection_string)
    return connection_string


@pytest.fixture
def unique() -> str:
    """A short unique token for names, so tests sharing one Azurite do not see each other."""
    return uuid.uuid4().hex[:8]

"""Storage clients per binding `connection` setting, cached and shared by all listeners.

A binding's `connection` names an app setting (default `AzureWebJobsStorage`); like the host, the
runner also tries `AzureWebJobs<name>`. The value is a connection string (`UseDevelopmentStorage=true`
maps to Azurite's default endpoints). Identity-based settings (`<name>__accountName`,
`<name>__blobServiceUri`/`__queueServiceUri`) go through DefaultAzureCredential as the app does.

Queue clients here are raw (no encode/decode policy): the runner encodes and decodes message text
itself so that it can copy a message to the poison queue byte for byte, as the host does.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient, QueueServiceClient

from devhost.errors import BindingError
from shared.platform.settings import SettingsError, StorageConnection, storage_connection
from shared.platform.storage import resolve_connection_string, service_clients

DEFAULT_CONNECTION = "AzureWebJobsStorage"


class Connections:
    def __init__(self, env: Mapping[str, str]):
        self._env = env
        self._lock = threading.Lock()
        self._services: dict[str, tuple[str, BlobServiceClient, QueueServiceClient]] = {}
        self._created: set[tuple[str, str, str]] = set()

    def account_key(self, setting: str | None) -> str:
        """A key identifying the storage account behind a setting (to match queues across bindings)."""
        return self._service(setting)[0]

    def blob_service(self, setting: str | None) -> BlobServiceClient:
        return self._service(setting)[1]

    def queue_service(self, setting: str | None) -> QueueServiceClient:
        return self._service(setting)[2]

    def container(self, setting: str | None, name: str, *, create: bool = False) -> ContainerClient:
        client = self.blob_service(setting).get_container_client(name)
        if create:
            self._create_once(setting, "container", name, client.create_container)
        return client

    def queue(self, setting: str | None, name: str, *, create: bool = False) -> QueueClient:
        client = self.queue_service(setting).get_queue_client(name)
        if create:
            self._create_once(setting, "queue", name, client.create_queue)
        return client

    def _create_once(self, setting: str | None, kind: str, name: str, create) -> None:
        key = (self.account_key(setting), kind, name)
        if key in self._created:
            return
        try:
            create()
        except ResourceExistsError:
            pass
        with self._lock:
            self._created.add(key)

    def _service(self, setting: str | None) -> tuple[str, BlobServiceClient, QueueServiceClient]:
        setting = setting or DEFAULT_CONNECTION
        with self._lock:
            cached = self._services.get(setting)
            if cached is not None:
                return cached
            connection = self._connection(setting)
            if connection.connection_string is not None:
                # Few retries: a stopped Azurite should show up as an error in seconds, not minutes.
                options = {"retry_total": 3, "connection_timeout": 5}
                blobs = BlobServiceClient.from_connection_string(connection.connection_string, **options)
                queues = QueueServiceClient.from_connection_string(connection.connection_string, **options)
            else:
                blobs, queues = service_clients(connection)
            key = connection.connection_string or f"{connection.blob_service_uri}|{connection.queue_service_uri}"
            self._services[setting] = (key, blobs, queues)
            return self._services[setting]

    def _connection(self, setting: str) -> StorageConnection:
        for candidate in (setting, f"AzureWebJobs{setting}"):
            value = (self._env.get(candidate) or "").strip()
            if value:
                return StorageConnection(connection_string=resolve_connection_string(value))
        try:
            return storage_connection(self._env, prefix=setting)
        except SettingsError as error:
            raise BindingError(f"Connection '{setting}': {error}") from None

"""Storage clients per binding `connection` setting, cached and shared by all listeners.

A binding's `connection` names a setting (default `AzureWebJobsStorage`), looked up like the
Functions host does: `AzureWebJobs<Name>` first, then `<Name>`. A value is a connection string
(`UseDevelopmentStorage=true` means Azurite's development account on its default ports). Without a
value, identity-based settings `<Name>__accountName`, or `<Name>__blobServiceUri` and
`<Name>__queueServiceUri`, reach the account with azure.identity's DefaultAzureCredential. Anything
else is a BindingError naming the setting.

Queue clients here are raw (no encode/decode policy): the runner encodes and decodes message text
itself so that it can copy a message to the poison queue byte for byte, as the host does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient, QueueServiceClient

from devhost.errors import BindingError

DEFAULT_CONNECTION = "AzureWebJobsStorage"

# The host understands `UseDevelopmentStorage=true`; the Python SDK does not.
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
)

# Few retries: a stopped Azurite should show up as an error in seconds, not minutes.
_RETRY_TOTAL = 3
_CONNECTION_TIMEOUT = 5


@dataclass(frozen=True)
class Account:
    """A storage account as reached through one connection setting."""

    key: str  # the same for every setting that reaches this account (to match queues across bindings)
    blobs: BlobServiceClient
    queues: QueueServiceClient


def open_account(env: Mapping[str, str], name: str) -> Account:
    """The account behind connection `name`; BindingError when no setting describes one."""
    for setting in (f"AzureWebJobs{name}", name):
        value = _value(env, setting)
        if value:
            return _connection_string_account(setting, value)
        account, blob_uri, queue_uri = (
            _value(env, f"{setting}__{part}") for part in ("accountName", "blobServiceUri", "queueServiceUri")
        )
        if account or blob_uri or queue_uri:
            return _identity_account(setting, account, blob_uri, queue_uri)
    also = "" if name.startswith("AzureWebJobs") else f" (nor 'AzureWebJobs{name}')"
    raise BindingError(
        f"Connection '{name}': app setting '{name}'{also} is not set; give it a connection string "
        f"(UseDevelopmentStorage=true for Azurite), or set {name}__accountName, or both "
        f"{name}__blobServiceUri and {name}__queueServiceUri."
    )


def _value(env: Mapping[str, str], setting: str) -> str:
    return (env.get(setting) or "").strip()


def _connection_string_account(setting: str, value: str) -> Account:
    if value.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
        value = DEVELOPMENT_STORAGE
    try:
        blobs = BlobServiceClient.from_connection_string(
            value, retry_total=_RETRY_TOTAL, connection_timeout=_CONNECTION_TIMEOUT
        )
        queues = QueueServiceClient.from_connection_string(
            value, retry_total=_RETRY_TOTAL, connection_timeout=_CONNECTION_TIMEOUT
        )
    except ValueError as error:  # the SDK's "Connection string is either blank or malformed."
        raise BindingError(f"Connection '{setting}': app setting '{setting}' is not a storage connection string ({error})") from None
    return Account(value, blobs, queues)


def _identity_account(setting: str, account: str, blob_uri: str, queue_uri: str) -> Account:
    if account:
        blob_uri = blob_uri or f"https://{account}.blob.core.windows.net"
        queue_uri = queue_uri or f"https://{account}.queue.core.windows.net"
    if not (blob_uri and queue_uri):
        missing = f"{setting}__queueServiceUri" if blob_uri else f"{setting}__blobServiceUri"
        raise BindingError(
            f"Connection '{setting}': an identity-based connection needs {missing} too (or {setting}__accountName)."
        )
    from azure.identity import DefaultAzureCredential  # only identity-based connections pay for the import

    credential = DefaultAzureCredential()
    return Account(
        f"{blob_uri}|{queue_uri}",
        BlobServiceClient(blob_uri, credential, retry_total=_RETRY_TOTAL, connection_timeout=_CONNECTION_TIMEOUT),
        QueueServiceClient(queue_uri, credential, retry_total=_RETRY_TOTAL, connection_timeout=_CONNECTION_TIMEOUT),
    )


class Connections:
    def __init__(self, env: Mapping[str, str]):
        self._env = env
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._created: set[tuple[str, str, str]] = set()

    def account_key(self, setting: str | None) -> str:
        """A key identifying the storage account behind a setting (to match queues across bindings)."""
        return self._account(setting).key

    def blob_service(self, setting: str | None) -> BlobServiceClient:
        return self._account(setting).blobs

    def queue_service(self, setting: str | None) -> QueueServiceClient:
        return self._account(setting).queues

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

    def _create_once(self, setting: str | None, kind: str, name: str, create: Callable[[], object]) -> None:
        key = (self.account_key(setting), kind, name)
        if key in self._created:
            return
        try:
            create()
        except ResourceExistsError:
            pass
        with self._lock:
            self._created.add(key)

    def _account(self, setting: str | None) -> Account:
        name = setting or DEFAULT_CONNECTION
        with self._lock:
            if name not in self._accounts:
                self._accounts[name] = open_account(self._env, name)
            return self._accounts[name]

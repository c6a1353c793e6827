"""A small storage layer over azure-storage-blob and azure-storage-queue.

What the rest of the app needs and nothing more:
- JSON documents with optimistic concurrency: create-if-absent (`if_none_match="*"`) and
  ETag-conditional replace, and `update_json` that retries a read-modify-write on conflicts;
- blobs written under a staging name and made visible by one commit write (`put_bytes` with a
  condition is atomic per blob; a blob never appears half-written);
- queue messages base64-encoded, as the Functions host reads and writes them;
- containers and queues created on first use.

One `Storage` per process: the SDK clients hold connection pools and are thread-safe.
The SDK is imported when a Storage is first connected, not when this module is imported, so the
function app's cold start does not pay for it (bench/cold_start.py measures that).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from shared.platform.errors import BlobNotFound, ConditionFailed
from shared.platform.settings import StorageConnection

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient
    from azure.storage.queue import QueueClient, QueueServiceClient

# `UseDevelopmentStorage=true` is understood by the Functions host but not by the Python SDK.
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


@dataclass(frozen=True)
class Document:
    """A JSON document as read from storage, with the ETag to make a conditional write against."""

    value: Any
    etag: str


@dataclass(frozen=True)
class BlobItem:
    name: str
    etag: str
    size: int
    last_modified: Any


def resolve_connection_string(connection_string: str) -> str:
    if connection_string.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
        return DEVELOPMENT_STORAGE
    return connection_string


def service_clients(connection: StorageConnection) -> tuple[BlobServiceClient, QueueServiceClient]:
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    if connection.connection_string is not None:
        cs = resolve_connection_string(connection.connection_string)
        return BlobServiceClient.from_connection_string(cs), QueueServiceClient.from_connection_string(cs)
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential()
    return (
        BlobServiceClient(connection.blob_service_uri, credential=credential),
        QueueServiceClient(connection.queue_service_uri, credential=credential),
    )


class Storage:
    def __init__(self, blobs: BlobServiceClient, queues: QueueServiceClient):
        self.blobs = blobs
        self.queues = queues
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, connection: StorageConnection) -> "Storage":
        return cls(*service_clients(connection))

    # -- containers and queues, created on first use -------------------------------------------

    def container(self, name: str) -> ContainerClient:
        from azure.core.exceptions import ResourceExistsError

        client = self.blobs.get_container_client(name)
        key = f"container:{name}"
        if key not in self._ready:
            try:
                client.create_container()
            except ResourceExistsError:
                pass
            with self._lock:
                self._ready.add(key)
        return client

    def queue(self, name: str) -> QueueClient:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

        client = self.queues.get_queue_client(
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )
        key = f"queue:{name}"
        if key not in self._ready:
            try:
                client.create_queue()
            except ResourceExistsError:
                pass
            with self._lock:
                self._ready.add(key)
        return client

    # -- blobs --------------------------------------------------------------------------------

    def get_bytes(self, container: str, name: str) -> tuple[bytes, str]:
        """The blob's content and ETag; raises BlobNotFound."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container(container).get_blob_client(name).download_blob()
        except ResourceNotFoundError:
            raise BlobNotFound(f"{container}/{name}") from None
        return downloader.readall(), downloader.properties.etag

    def open_stream(self, container: str, name: str) -> IO[bytes]:
        """A read-only file-like object streaming the blob in chunks (never loads it whole)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container(container).get_blob_client(name).download_blob()
        except ResourceNotFoundError:
            raise BlobNotFound(f"{container}/{name}") from None
        return io.BufferedReader(_DownloadReader(downloader), buffer_size=4 * 1024 * 1024)

    def put_bytes(
        self,
        container: str,
        name: str,
        data: bytes | IO[bytes],
        *,
        if_absent: bool = False,
        etag: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Write a blob in one request; with `if_absent` or `etag` the write is conditional.

        Returns the new ETag; raises ConditionFailed when the condition fails.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.storage.blob import ContentSettings

        kwargs: dict[str, Any] = {"overwrite": True, "metadata": metadata}
        if content_type:
            kwargs["content_settings"] = ContentSettings(content_type=content_type)
        if if_absent:
            kwargs["overwrite"] = False  # the SDK sends If-None-Match: *
        elif etag is not None:
            kwargs.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        try:
            result = self.container(container).get_blob_client(name).upload_blob(data, **kwargs)
        except (ResourceExistsError, ResourceModifiedError) as error:
            raise ConditionFailed(f"{container}/{name}: {error.reason or 'condition not met'}") from None
        return result["etag"]

    def exists(self, container: str, name: str) -> bool:
        return self.container(container).get_blob_client(name).exists()

    def etag(self, container: str, name: str) -> str | None:
        """The blob's current ETag (one HEAD request), or None when absent."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container(container).get_blob_client(name).get_blob_properties().etag
        except ResourceNotFoundError:
            return None

    def list(self, container: str, prefix: str = "") -> Iterator[BlobItem]:
        for blob in self.container(container).list_blobs(name_starts_with=prefix):
            yield BlobItem(blob.name, blob.etag, blob.size, blob.last_modified)

    def copy(self, container: str, source: str, target: str, *, target_container: str | None = None) -> None:
        """Server-side copy within the account (used to quarantine files without touching them)."""
        source_url = self.container(container).get_blob_client(source).url
        destination = self.container(target_container or container).get_blob_client(target)
        destination.start_copy_from_url(source_url, requires_sync=True)

    def delete(self, container: str, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.container(container).get_blob_client(name).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    # -- JSON documents with optimistic concurrency -----------------------------------------

    def read_json(self, container: str, name: str) -> Document | None:
        try:
            data, etag = self.get_bytes(container, name)
        except BlobNotFound:
            return None
        return Document(json.loads(data), etag)

    def create_json(self, container: str, name: str, value: Any) -> str:
        """Create the document only if absent; raises ConditionFailed if it exists."""
        return self.put_bytes(container, name, _dump(value), if_absent=True, content_type="application/json")

    def replace_json(self, container: str, name: str, value: Any, etag: str) -> str:
        """Replace the document only if unchanged since read; raises ConditionFailed otherwise."""
        return self.put_bytes(container, name, _dump(value), etag=etag, content_type="application/json")

    def write_json(self, container: str, name: str, value: Any) -> str:
        """Unconditional write, for documents with a single writer (reports, receipts)."""
        return self.put_bytes(container, name, _dump(value), content_type="application/json")

    def update_json(
        self,
        container: str,
        name: str,
        change: Callable[[Any | None], Any],
        *,
        attempts: int = 20,
        create: bool = True,
    ) -> Any:
        """Read-modify-write with ETag conditions, retried when another writer got in first.

        `change` receives the current value (None when absent) and returns the new value; it may
        run several times, each time on a fresh read. With create=False an absent document is left
        absent and None is returned without calling `change`. A change that leaves the document as
        it was writes nothing (a redelivered message costs one read, not a write).
        """
        for _ in range(attempts):
            current = self.read_json(container, name)
            if current is None and not create:
                return None
            before = None if current is None else _dump(current.value)
            new_value = change(None if current is None else current.value)
            if before is not None and _dump(new_value) == before:
                return new_value
            try:
                if current is None:
                    self.create_json(container, name, new_value)
                else:
                    self.replace_json(container, name, new_value, current.etag)
            except ConditionFailed:
                continue
            return new_value
        raise ConditionFailed(f"{container}/{name}: still contended after {attempts} attempts")

    # -- queues -----------------------------------------------------------------------------

    def send(self, queue: str, message: str | bytes | dict, *, delay_seconds: int | None = None) -> None:
        """Enqueue a message, base64-encoded like the Functions host's queue output binding."""
        if isinstance(message, dict):
            message = json.dumps(message, separators=(",", ":"))
        elif isinstance(message, bytes):
            message = message.decode("utf-8")
        self.queue(queue).send_message(message, visibility_timeout=delay_seconds)


class _DownloadReader(io.RawIOBase):
    """Adapts the SDK's chunked downloader to the file protocol that pyarrow and csv readers use."""

    def __init__(self, downloader):
        self._downloader = downloader
        self.name = downloader.name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._downloader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _dump(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True, default=str).encode("utf-8")

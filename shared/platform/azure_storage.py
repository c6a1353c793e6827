"""`Storage` on Azure Storage (and Azurite), over azure-storage-blob and azure-storage-queue.

On top of the contract in `shared.platform.storage`:
- queue messages are base64-encoded, as the Functions host reads and writes them;
- containers and queues are created on first use (once per Storage and name);
- `open_stream` streams the blob in chunks, never loading it whole;
- ETags are in the quoted form of the HTTP headers everywhere (listings too);
- connection strings and `UseDevelopmentStorage=true` (Azurite on its default ports), or service
  URIs with DefaultAzureCredential (managed identity), as `StorageConnection` describes.

One `AzureStorage` per process: the SDK clients hold connection pools and are thread-safe.
The SDK is imported when a Storage is first connected, not when this module is imported, so the
function app's cold start does not pay for it (bench/cold_start.py measures that).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from shared.platform.errors import BlobNotFound, ConditionFailed, SettingsError
from shared.platform.settings import StorageConnection
from shared.platform.storage import BlobItem, Storage

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient, StorageStreamDownloader
    from azure.storage.queue import QueueClient, QueueServiceClient

# `UseDevelopmentStorage=true` is understood by the Functions host but not by the Python SDK.
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


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
    blob_uri, queue_uri = connection.blob_service_uri, connection.queue_service_uri
    if blob_uri is None or queue_uri is None:
        raise SettingsError("a storage connection needs a connection string, or both service URIs.")
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential()
    return BlobServiceClient(blob_uri, credential=credential), QueueServiceClient(queue_uri, credential=credential)


def connect(connection: StorageConnection) -> AzureStorage:
    """The storage account `connection` names (this is where the SDK is imported)."""
    return AzureStorage(*service_clients(connection))


class AzureStorage(Storage):
    def __init__(self, blobs: BlobServiceClient, queues: QueueServiceClient):
        self.blobs = blobs
        self.queues = queues
        self._ready: set[str] = set()
        self._lock = threading.Lock()

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
        """The queue's client, encoding and decoding messages as base64 text like the Functions host."""
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
        downloader = self._download(container, name)
        return downloader.readall(), downloader.properties.etag

    def open_stream(self, container: str, name: str, *, version_id: str | None = None) -> IO[bytes]:
        reader = _DownloadReader(self._download(container, name, version_id))
        return io.BufferedReader(reader, buffer_size=4 * 1024 * 1024)

    def version_id(self, container: str, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container(container).get_blob_client(name).get_blob_properties().version_id
        except ResourceNotFoundError:
            return None

    def _download(self, container: str, name: str, version_id: str | None = None) -> StorageStreamDownloader:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container(container).get_blob_client(name).download_blob(version_id=version_id)
        except ResourceNotFoundError:
            raise BlobNotFound(f"{container}/{name}" + (f" version {version_id}" if version_id else "")) from None

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
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.container(container).get_blob_client(name).get_blob_properties().etag
        except ResourceNotFoundError:
            return None

    def list(self, container: str, prefix: str = "", *, metadata: bool = False) -> Iterator[BlobItem]:
        listing = self.container(container).list_blobs(name_starts_with=prefix,
                                                       include=["metadata"] if metadata else None)
        for blob in listing:
            # a listing's ETags come unquoted; writes, reads and HEAD answer them quoted
            etag = blob.etag if blob.etag.startswith('"') else f'"{blob.etag}"'
            yield BlobItem(blob.name, etag, blob.size, blob.last_modified, dict(blob.metadata or {}) if metadata else {})

    def copy(self, container: str, source: str, target: str, *, target_container: str | None = None) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        source_url = self.container(container).get_blob_client(source).url
        destination = self.container(target_container or container).get_blob_client(target)
        try:
            destination.start_copy_from_url(source_url, requires_sync=True)
        except ResourceNotFoundError:
            raise BlobNotFound(f"{container}/{source}") from None

    def delete(self, container: str, name: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.container(container).get_blob_client(name).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    # -- queues -------------------------------------------------------------------------------

    def send_text(self, queue: str, text: str, *, delay_seconds: int | None = None) -> None:
        self.queue(queue).send_message(text, visibility_timeout=delay_seconds)

    def approximate_message_count(self, queue: str) -> int:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.queues.get_queue_client(queue)  # no create: counting never makes a queue
        try:
            return int(client.get_queue_properties().approximate_message_count or 0)
        except ResourceNotFoundError:
            return 0


class _DownloadReader(io.RawIOBase):
    """Adapts the SDK's chunked downloader to the file protocol that pyarrow and csv readers use."""

    def __init__(self, downloader: StorageStreamDownloader):
        self._downloader = downloader
        self.name = downloader.name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._downloader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

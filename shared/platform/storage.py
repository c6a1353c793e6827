"""The storage contract of the core: blobs, queues and JSON documents with optimistic concurrency.

What the rest of the app needs and nothing more:
- JSON documents with optimistic concurrency: create-if-absent (`if_none_match="*"`) and
  ETag-conditional replace, and `update_json` that retries a read-modify-write on conflicts;
- blobs written under a staging name and made visible by one commit write (`put_bytes` with a
  condition is atomic per blob; a blob never appears half-written);
- queue messages as text; a delayed message stays invisible until its delay has passed;
- containers and queues created on first use.

`Storage` is the contract: its abstract methods are the blob and queue primitives, and the JSON
document methods are written once here on top of them. Every implementation guarantees:
- every write gives the blob a new ETag (also a write of the same bytes), and `put_bytes` returns it;
- `put_bytes(if_absent=True)` writes only when the blob does not exist, `put_bytes(etag=...)` only
  when the blob still has that ETag; otherwise it raises ConditionFailed and changes nothing;
- reads of a missing blob raise BlobNotFound (`exists`, `etag` and `delete` answer instead);
- `list` yields the blobs whose names start with a prefix, in name order, each with its ETag, size
  and last-modified time (a timezone-aware datetime);
- `copy` copies server-side: the target is a new blob with its own ETag, the source is untouched;
- `send` enqueues text (a dict is sent as compact JSON); `approximate_message_count` counts a queue's
  messages, delayed and invisible ones included (0 for a queue never used); one Storage is safe to
  share between threads.

Two implementations: `shared.platform.azure_storage.AzureStorage` (Azure Storage and Azurite; the
app's, through `shared.platform.context.storage()`) and `shared.platform.memory_storage.MemoryStorage`
(in-process, for tests of the core). This module imports nothing but the standard library.
"""

from __future__ import annotations

import abc
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from shared.platform.errors import BlobNotFound, ConditionFailed


@dataclass(frozen=True)
class Document:
    """A JSON document as read from storage, with the ETag to make a conditional write against."""

    value: Any
    etag: str


@dataclass(frozen=True)
class BlobItem:
    """One blob of a listing."""

    name: str
    etag: str
    size: int
    last_modified: datetime  # timezone-aware
    metadata: dict[str, str] = field(default_factory=dict)  # filled when listed with metadata=True


class Storage(abc.ABC):
    """Blobs in containers, messages on queues, JSON documents; see the module docstring for the
    guarantees every implementation keeps."""

    # -- blobs --------------------------------------------------------------------------------

    @abc.abstractmethod
    def get_bytes(self, container: str, name: str) -> tuple[bytes, str]:
        """The blob's content and ETag; raises BlobNotFound."""

    @abc.abstractmethod
    def open_stream(self, container: str, name: str, *, version_id: str | None = None) -> IO[bytes]:
        """A read-only file-like object over the blob's content (or over the version `version_id` of
        it, which blob versioning keeps after the blob is overwritten); raises BlobNotFound.

        Azure streams it in chunks (never loads it whole), so multi-GB files can be read."""

    @abc.abstractmethod
    def version_id(self, container: str, name: str) -> str | None:
        """The id of the blob's current version where the account keeps versions (blob versioning
        on), else None; None also when the blob is absent."""

    @abc.abstractmethod
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

    @abc.abstractmethod
    def exists(self, container: str, name: str) -> bool:
        """Whether the blob exists."""

    @abc.abstractmethod
    def etag(self, container: str, name: str) -> str | None:
        """The blob's current ETag (one HEAD request on Azure), or None when absent."""

    @abc.abstractmethod
    def list(self, container: str, prefix: str = "", *, metadata: bool = False) -> Iterator[BlobItem]:
        """The blobs whose names start with `prefix`, in name order; with `metadata`, each with the
        metadata it was written with (in the same listing requests: no read per blob)."""

    @abc.abstractmethod
    def copy(self, container: str, source: str, target: str, *, target_container: str | None = None) -> None:
        """Server-side copy within the account (used to quarantine files without touching them);
        raises BlobNotFound when the source does not exist."""

    @abc.abstractmethod
    def delete(self, container: str, name: str) -> bool:
        """Delete the blob; False when it did not exist."""

    # -- queues -------------------------------------------------------------------------------

    def send(self, queue: str, message: str | bytes | dict, *, delay_seconds: int | None = None) -> None:
        """Enqueue a message: text as is, bytes as UTF-8 text, a dict as compact JSON. With
        `delay_seconds` the message becomes visible to receivers only after that delay."""
        if isinstance(message, dict):
            message = json.dumps(message, separators=(",", ":"))
        elif isinstance(message, bytes):
            message = message.decode("utf-8")
        self.send_text(queue, message, delay_seconds=delay_seconds)

    @abc.abstractmethod
    def send_text(self, queue: str, text: str, *, delay_seconds: int | None = None) -> None:
        """Enqueue one text message, invisible for `delay_seconds` when given."""

    @abc.abstractmethod
    def approximate_message_count(self, queue: str) -> int:
        """How many messages the queue holds, delayed and invisible ones included (Azure's count is
        approximate); 0 for a queue that does not exist."""

    # -- JSON documents with optimistic concurrency -----------------------------------------

    def read_json(self, container: str, name: str) -> Document | None:
        try:
            data, etag = self.get_bytes(container, name)
        except BlobNotFound:
            return None
        return Document(json.loads(data), etag)

    def create_json(self, container: str, name: str, value: Any, *, metadata: dict[str, str] | None = None) -> str:
        """Create the document only if absent; raises ConditionFailed if it exists."""
        return self.put_bytes(container, name, _dump(value), if_absent=True, content_type="application/json",
                              metadata=metadata)

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
        it was writes nothing (a redelivered message costs one read, not a write). A lost write
        waits a random, growing pause (full jitter, at most 0.2 s) before reading again, so writers
        contending for one document take turns instead of one starving behind the others.
        """
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** attempt)))
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


def _dump(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True, default=str).encode("utf-8")

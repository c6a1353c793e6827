"""`Storage` in process memory, for tests of the core: no emulator, no network, same semantics.

It keeps the contract of `shared.platform.storage` as Azure does: ETags change on every write,
`if_absent` and `etag` conditions are checked atomically with the write, listings are in name
order with timezone-aware last-modified times, copies are new blobs, delayed messages stay
invisible until their delay has passed. Base64 is a wire detail of Azure queues; here a message is
kept as the text that was sent.

Tests read queues with `messages` (visible bodies, left in place) and `take` (visible bodies,
removed), the way the Functions host would receive them, and empty one with `clear`.
Every method is thread-safe.
"""

from __future__ import annotations

import builtins  # `builtins.list`: inside the class, `list` is the listing method
import io
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO

from shared.platform.errors import BlobNotFound, ConditionFailed
from shared.platform.storage import BlobItem, Storage


@dataclass(frozen=True)
class _Blob:
    data: bytes
    etag: str
    last_modified: datetime
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Message:
    text: str
    visible_at: float  # on the storage's monotonic clock


class MemoryStorage(Storage):
    """Blobs and queues in dictionaries behind one lock.

    `clock` (seconds, monotonic) decides when a delayed message becomes visible; tests of delays
    can pass a hand-driven one. With `versioning`, every write keeps the content it replaces as a
    version, as an Azure account with blob versioning does (its ETag is the version id here)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, versioning: bool = False):
        self._clock = clock
        self._lock = threading.Lock()
        self._blobs: dict[tuple[str, str], _Blob] = {}
        self._versioning = versioning
        self._kept: dict[tuple[str, str, str], bytes] = {}  # (container, name, version id) -> content
        self._queues: dict[str, list[_Message]] = defaultdict(list)
        self._versions = itertools.count(1)

    # -- blobs --------------------------------------------------------------------------------

    def _blob(self, container: str, name: str) -> _Blob:
        with self._lock:
            blob = self._blobs.get((container, name))
        if blob is None:
            raise BlobNotFound(f"{container}/{name}")
        return blob

    def _new_etag(self) -> str:
        """A fresh ETag in Azure's quoted style (called with the lock held)."""
        return f'"0x{next(self._versions):016X}"'

    def get_bytes(self, container: str, name: str) -> tuple[bytes, str]:
        blob = self._blob(container, name)
        return blob.data, blob.etag

    def open_stream(self, container: str, name: str, *, version_id: str | None = None) -> IO[bytes]:
        if version_id is None:
            return io.BytesIO(self._blob(container, name).data)
        with self._lock:
            kept = self._kept.get((container, name, version_id))
        if kept is None:
            raise BlobNotFound(f"{container}/{name} version {version_id}")
        return io.BytesIO(kept)

    def version_id(self, container: str, name: str) -> str | None:
        if not self._versioning:
            return None
        with self._lock:
            blob = self._blobs.get((container, name))
        return None if blob is None else blob.etag.strip('"')

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
        content = data if isinstance(data, bytes) else data.read()
        key = (container, name)
        with self._lock:
            current = self._blobs.get(key)
            if if_absent and current is not None:
                raise ConditionFailed(f"{container}/{name}: the blob already exists")
            if not if_absent and etag is not None and (current is None or current.etag != etag):
                raise ConditionFailed(f"{container}/{name}: the blob changed since it was read")
            blob = _Blob(bytes(content), self._new_etag(), _now(), content_type, dict(metadata or {}))
            self._blobs[key] = blob
            if self._versioning:
                self._kept[(container, name, blob.etag.strip('"'))] = blob.data
        return blob.etag

    def exists(self, container: str, name: str) -> bool:
        with self._lock:
            return (container, name) in self._blobs

    def etag(self, container: str, name: str) -> str | None:
        with self._lock:
            blob = self._blobs.get((container, name))
        return None if blob is None else blob.etag

    def list(self, container: str, prefix: str = "", *, metadata: bool = False) -> Iterator[BlobItem]:
        with self._lock:
            found = sorted((name, blob) for (c, name), blob in self._blobs.items()
                           if c == container and name.startswith(prefix))
        for name, blob in found:
            yield BlobItem(name, blob.etag, len(blob.data), blob.last_modified, dict(blob.metadata) if metadata else {})

    def copy(self, container: str, source: str, target: str, *, target_container: str | None = None) -> None:
        with self._lock:
            original = self._blobs.get((container, source))
            if original is None:
                raise BlobNotFound(f"{container}/{source}")
            self._blobs[(target_container or container, target)] = _Blob(
                original.data, self._new_etag(), _now(), original.content_type, dict(original.metadata))

    def delete(self, container: str, name: str) -> bool:
        with self._lock:
            return self._blobs.pop((container, name), None) is not None

    # -- queues -------------------------------------------------------------------------------

    def send_text(self, queue: str, text: str, *, delay_seconds: int | None = None) -> None:
        with self._lock:
            self._queues[queue].append(_Message(text, self._clock() + (delay_seconds or 0)))

    def approximate_message_count(self, queue: str) -> int:
        with self._lock:
            return len(self._queues.get(queue, []))

    def messages(self, queue: str) -> builtins.list[str]:
        """The bodies of the queue's visible messages in the order sent; the messages stay queued."""
        now = self._clock()
        with self._lock:
            return [m.text for m in self._queues.get(queue, []) if m.visible_at <= now]

    def take(self, queue: str, match: Callable[[str], bool] | None = None) -> builtins.list[str]:
        """Remove and return the bodies of the visible messages (those `match` accepts, when given),
        in the order sent; delayed and unmatched messages stay queued."""
        now = self._clock()
        with self._lock:
            visible = [m for m in self._queues.get(queue, []) if m.visible_at <= now]
        chosen = {id(m) for m in visible if match is None or match(m.text)}  # outside the lock
        with self._lock:
            queued = self._queues.get(queue, [])
            taken = [m for m in queued if id(m) in chosen]
            self._queues[queue] = [m for m in queued if id(m) not in chosen]
        return [m.text for m in taken]

    def clear(self, queue: str) -> None:
        """Drop every message on the queue, delayed ones too."""
        with self._lock:
            self._queues.pop(queue, None)


def _now() -> datetime:
    return datetime.now(timezone.utc)

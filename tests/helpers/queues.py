"""Read queues back in tests, the same way on both storages: message bodies as text, in order.

On MemoryStorage these are its own `messages`, `take` and `clear`; on AzureStorage they go through
the SDK (the storage decodes base64), as the Functions host would receive.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.platform.azure_storage import AzureStorage
from shared.platform.memory_storage import MemoryStorage
from shared.platform.storage import Storage

# Azure hides a received message for this long (one not taken is made visible again at once).
AZURE_RECEIVE_SECONDS = 30


def peek(storage: Storage, queue: str) -> list[str]:
    """The bodies of the visible messages (up to 32 on Azure), left on the queue."""
    if isinstance(storage, MemoryStorage):
        return storage.messages(queue)
    return [m.content for m in _azure(storage).queue(queue).peek_messages(max_messages=32)]


def take(storage: Storage, queue: str, match: Callable[[str], bool] | None = None) -> list[str]:
    """Remove and return the bodies of the visible messages `match` accepts (all when None)."""
    if isinstance(storage, MemoryStorage):
        return storage.take(queue, match)
    client = _azure(storage).queue(queue)
    taken, passed = [], []
    for message in client.receive_messages(messages_per_page=32, visibility_timeout=AZURE_RECEIVE_SECONDS):
        if match is None or match(message.content):
            taken.append(message.content)
            client.delete_message(message)
        else:
            passed.append(message)
    for message in passed:  # visible again at once, as on MemoryStorage
        client.update_message(message, visibility_timeout=0)
    return taken


def clear(storage: Storage, queue: str) -> None:
    """Drop every message on the queue, delayed ones too."""
    if isinstance(storage, MemoryStorage):
        storage.clear(queue)
    else:
        _azure(storage).queue(queue).clear_messages()


def _azure(storage: Storage) -> AzureStorage:
    assert isinstance(storage, AzureStorage), f"no queue reader for {type(storage).__name__}"
    return storage

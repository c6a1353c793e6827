"""What bindings, the invoker and the listeners use of the host, built once per `Host.start()`.

A narrow view instead of the Host itself, so that none of those modules imports devhost.host:
the Host builds a Runtime, hands it down, and owns the life cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from devhost.config import HostConfig
from devhost.connections import Connections


class QueueWatcher:
    """Wakes a queue's listeners when this host writes to that queue (the host's SharedQueueWatcher).

    Listeners subscribe while the host starts, before any write, so lookups need no lock.
    """

    def __init__(self, connections: Connections, on_write: Callable[[], None]):
        self._connections = connections
        self._on_write = on_write
        self._subscribers: dict[tuple[str, str], list[Callable[[], None]]] = {}

    def subscribe(self, connection: str | None, queue_name: str, wake: Callable[[], None]) -> None:
        key = (self._connections.account_key(connection), queue_name)
        self._subscribers.setdefault(key, []).append(wake)

    def notify(self, connection: str | None, queue_name: str) -> None:
        self._on_write()
        for wake in self._subscribers.get((self._connections.account_key(connection), queue_name), []):
            wake()


@dataclass(frozen=True)
class Runtime:
    env: Mapping[str, str]  # the app settings: os.environ with the Host's settings over it
    config: HostConfig
    connections: Connections
    host_id: str
    queue_writes: QueueWatcher

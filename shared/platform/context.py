"""One Settings and one Storage per process, built on first use and reused by every invocation.

The SDK clients hold connection pools and are thread-safe, so triggers share them. Tests that change
the environment call `reset()`; tests of the core on `MemoryStorage` install theirs with
`use_storage(storage)` (kept across `reset()`) and remove it with `use_storage(None)`.
"""

from __future__ import annotations

import functools

from shared.platform import azure_storage, logs, tracing
from shared.platform.settings import Settings, load_settings
from shared.platform.storage import Storage

_installed: Storage | None = None


@functools.cache
def settings() -> Settings:
    """The app's settings; the first load also puts run fields on log records and sets up the trace
    exporter the settings ask for (once per process)."""
    loaded = load_settings()
    logs.install()
    tracing.configure(loaded)
    return loaded


def storage() -> Storage:
    """The installed Storage if any, else the account the settings name (connected on first use)."""
    return _installed if _installed is not None else _connected()


@functools.cache
def _connected() -> Storage:
    return azure_storage.connect(settings().storage)


def use_storage(installed: Storage | None) -> None:
    """Make `storage()` answer `installed` until this is called again; None goes back to the
    account the settings name."""
    global _installed
    _installed = installed


def reset() -> None:
    """Forget the settings and the connected Storage (an installed one stays)."""
    settings.cache_clear()
    _connected.cache_clear()

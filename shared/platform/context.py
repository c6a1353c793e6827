"""One Settings and one Storage per process, built on first use and reused by every invocation.

The SDK clients hold connection pools and are thread-safe, so triggers share them. Tests that change
the environment call `reset()`.
"""

from __future__ import annotations

import functools

from shared.platform.settings import Settings, load_settings
from shared.platform.storage import Storage


@functools.cache
def settings() -> Settings:
    return load_settings()


@functools.cache
def storage() -> Storage:
    return Storage.connect(settings().storage)


def reset() -> None:
    settings.cache_clear()
    storage.cache_clear()

"""host.json and local.settings.json, read the way the Functions host reads them."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.errors import HostError

log = logging.getLogger("devhost")

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


def parse_timespan(value: Any, name: str) -> float:
    """Seconds from a host.json TimeSpan ('00:00:02', '1.00:00:00', '00:00:00.5') or milliseconds."""
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    found = _TIMESPAN.match(str(value).strip())
    if not found:
        raise HostError(f"host.json {name}: expected a TimeSpan like '00:00:30', got {value!r}.")
    days, hours, minutes, seconds = found.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class HostConfig:
    """The host.json settings the runner honours (defaults are the host's)."""

    route_prefix: str = "api"
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"
    blob_parallelism: int = 8
    poison_blob_threshold: int = 5

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> HostConfig:
        extensions = document.get("extensions") or {}
        http = extensions.get("http") or {}
        queues = extensions.get("queues") or {}
        blobs = extensions.get("blobs") or {}
        batch = int(queues.get("batchSize", 16))
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise HostError(f"host.json extensions.queues.messageEncoding must be 'base64' or 'none', got {encoding!r}.")
        return cls(
            route_prefix=str(http.get("routePrefix", "api")),
            batch_size=batch,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch // 2)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=parse_timespan(queues.get("visibilityTimeout", "00:00:00"), "visibilityTimeout"),
            max_polling_interval=parse_timespan(queues.get("maxPollingInterval", "00:01:00"), "maxPollingInterval"),
            message_encoding=encoding,
            blob_parallelism=int(blobs.get("maxDegreeOfParallelism", 8 * (os.cpu_count() or 1))),
            poison_blob_threshold=int(blobs.get("poisonBlobThreshold", 5)),
        )

    @classmethod
    def load(cls, path: Path | str | None) -> HostConfig:
        if path is None or not Path(path).exists():
            if path is not None:
                log.warning("No host.json at %s: using the host's defaults.", path)
            return cls()
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except json.JSONDecodeError as error:
            raise HostError(f"{path}: invalid JSON ({error.msg} at line {error.lineno}).") from None


def load_local_settings(path: Path | str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `Values` of a local.settings.json that are not set in the environment already."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise HostError(f"{path}: invalid JSON ({error.msg} at line {error.lineno}).") from None
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise HostError(f"{path}: 'Values' must be an object of setting names to strings.")
    return {str(k): str(v) for k, v in values.items() if k not in environ}

"""The real function app on devhost, against a test module's Azurite, as the emulator-tier tests run it:
a host.json whose queues poll every second and give up after two deliveries, the timers quiet (a
yearly schedule) unless the settings give their own, and the process's settings and scorer caches
reset around it, so one module's app never serves another's storage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.platform.settings import TIMER_SCHEDULES

FAST_HOST_JSON = {
    "version": "2.0",
    "extensions": {
        "http": {"routePrefix": "api"},
        "queues": {"batchSize": 4, "newBatchThreshold": 2, "maxDequeueCount": 2, "visibilityTimeout": "00:00:01",
                   "maxPollingInterval": "00:00:01", "messageEncoding": "base64"},
        "blobs": {"maxDegreeOfParallelism": 2, "poisonBlobThreshold": 3},
    },
}
YEARLY = "0 0 0 1 1 *"
QUIET_TIMERS = {setting: YEARLY for setting, _ in TIMER_SCHEDULES.values()}


@contextmanager
def app_on_devhost(folder: Path, settings: dict[str, str], name: str, **options: Any) -> Iterator[Any]:
    """Run function_app on devhost (loopback, a free port) with `settings` over the quiet timers; its
    host.json goes in `folder`. `options` go to devhost's Host (blob_poll_interval 0.2 s by default)."""
    from devhost import Host
    from function_app import app
    from shared.platform import context
    from shared.serving import scoring

    host_json = folder / "host.json"
    host_json.write_text(json.dumps(FAST_HOST_JSON))
    context.reset()
    scoring.reset()  # a scorer another module's app left in this process serves that app's storage
    with Host(app, {**QUIET_TIMERS, **settings}, host_json=host_json, port=0, host_id=f"{name}-{uuid.uuid4().hex[:8]}",
              **{"blob_poll_interval": 0.2, "drain_timeout": 10, **options}) as running:
        yield running
        scoring.reset()  # flush the scoring log while this module's Azurite still runs
    context.reset()

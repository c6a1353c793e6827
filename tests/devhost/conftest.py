"""Fixtures for the devhost tests: per-test names, a fast host.json, a host factory, storage probes.

The sample app (tests/devhost/sample_app.py) names its queues, containers and schedules with
%Setting% expressions; `names` gives each test its own, so tests share the session Azurite safely.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from devhost import Host  # noqa: E402

FAST_HOST_JSON = {
    "version": "2.0",
    "extensions": {
        "http": {"routePrefix": "api"},
        "queues": {
            "batchSize": 4,
            "newBatchThreshold": 2,
            "maxDequeueCount": 3,
            "visibilityTimeout": "00:00:01",
            "maxPollingInterval": "00:00:01",
            "messageEncoding": "base64",
        },
        "blobs": {"maxDegreeOfParallelism": 2, "poisonBlobThreshold": 5},
    },
}


@pytest.fixture
def host_json(tmp_path) -> Path:
    path = tmp_path / "host.json"
    path.write_text(json.dumps(FAST_HOST_JSON))
    return path


@pytest.fixture
def names(unique: str) -> dict[str, str]:
    """App settings for the sample app: unique names; timers off unless a test turns them on."""
    return {
        "SAMPLE_HTTP_QUEUE": f"http-{unique}",
        "SAMPLE_IN_QUEUE": f"in-{unique}",
        "SAMPLE_OUT_QUEUE": f"out-{unique}",
        "SAMPLE_FAIL_QUEUE": f"fail-{unique}",
        "SAMPLE_SLOW_QUEUE": f"slow-{unique}",
        "SAMPLE_DONE_QUEUE": f"done-{unique}",
        "SAMPLE_EVENTS_QUEUE": f"events-{unique}",
        "SAMPLE_TIMER_QUEUE": f"timer-{unique}",
        "SAMPLE_CONTAINER": f"sample-{unique}",
        "SAMPLE_TICK_SCHEDULE": "off",
        "SAMPLE_BOOT_SCHEDULE": "disabled",
    }


@pytest.fixture
def make_host(connection_string: str, names: dict[str, str], host_json: Path, unique: str) -> Iterator:
    """Start a devhost on the sample app; every host started is stopped at the end of the test."""
    import sample_app

    sample_app.CALLS.clear()
    started: list[Host] = []

    def make(*, app=None, settings: dict[str, str] | None = None, start: bool = True, **options) -> Host:
        options.setdefault("host_json", host_json)
        options.setdefault("port", 0)
        options.setdefault("blob_poll_interval", 0.2)
        options.setdefault("host_id", f"test-{unique}")
        options.setdefault("drain_timeout", 10)
        env = {"AzureWebJobsStorage": connection_string, **names, **(settings or {})}
        host = Host(app if app is not None else sample_app.app, env, **options)
        if start:
            host.start()
            started.append(host)
        return host

    yield make
    for host in reversed(started):
        host.stop()


class Probe:
    """Reads what the functions left in storage (queues decoded from base64)."""

    def __init__(self, connection_string: str):
        self.blobs = BlobServiceClient.from_connection_string(connection_string)
        self.queues = QueueServiceClient.from_connection_string(connection_string)

    def raw_messages(self, queue: str) -> list:
        client = self.queues.get_queue_client(queue)
        try:
            return list(client.peek_messages(max_messages=32))
        except Exception as error:
            if "QueueNotFound" in str(error):
                return []
            raise

    def messages(self, queue: str) -> list[str]:
        return [base64.b64decode(m.content).decode() for m in self.raw_messages(queue)]

    def send(self, queue: str, text: str) -> None:
        client = self.queues.get_queue_client(queue)
        try:
            client.create_queue()
        except Exception:
            pass
        client.send_message(base64.b64encode(text.encode()).decode())

    def container(self, name: str):
        client = self.blobs.get_container_client(name)
        if not client.exists():
            client.create_container()
        return client

    def upload(self, container: str, name: str, data: bytes) -> str:
        client = self.container(container).get_blob_client(name)
        return client.upload_blob(data, overwrite=True)["etag"]

    def read(self, container: str, name: str) -> bytes:
        return self.blobs.get_container_client(container).download_blob(name).readall()

    def blob_names(self, container: str, prefix: str = "") -> list[str]:
        return [b.name for b in self.blobs.get_container_client(container).list_blobs(name_starts_with=prefix)]


@pytest.fixture
def probe(connection_string: str) -> Probe:
    return Probe(connection_string)

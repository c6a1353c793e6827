"""GET /api/health: storage reachability, what serves per model, the queue backlog; 503 when storage
cannot be reached (a real Azure client on a port nothing listens on)."""

from __future__ import annotations

import socket

from shared.platform import context, names
from shared.platform.azure_storage import AzureStorage
from tests.helpers.api import payload, point, register_version


def test_health_reports_serving_and_backlog(api_env, memory_env, call, trained, model_name):
    first = call("health")
    assert first.status_code == 200
    body = payload(first)
    assert body["status"] == "ok" and body["storage"] == {"reachable": True}
    assert body["models"] == {model_name: {"production": None, "previous": None, "canary": None}}
    assert set(body["queues"]) == {q for name in names.QUEUES for q in (name, f"{name}-poison")}
    assert set(body["queues"].values()) == {0}

    for run in ("r1", "r2"):
        version = register_version(memory_env, model_name, trained[0], run_id=run)
        point(memory_env, model_name, version)
    point(memory_env, model_name, 1, alias="canary", percent=10)
    memory_env.send(names.RETRAIN_QUEUE, "one")
    memory_env.send(names.RETRAIN_QUEUE, "two", delay_seconds=600)
    memory_env.send(f"{names.TEST_QUEUE}-poison", "bad")
    body = payload(call("health"))
    assert body["models"][model_name] == {"production": 2, "previous": 1, "canary": {"version": 1, "percent": 10}}
    assert body["queues"]["retrain"] == 2 and body["queues"]["test-poison"] == 1 and body["queues"]["deploy"] == 0


def test_unreachable_storage_answers_503_with_the_error(api_env, call):
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "bWVtb3J5"
    blobs = BlobServiceClient(f"http://127.0.0.1:{port}/acct", credential={"account_name": "acct", "account_key": key},
                              retry_total=0)
    queues = QueueServiceClient(f"http://127.0.0.1:{port}/acct", credential={"account_name": "acct", "account_key": key},
                                retry_total=0)
    context.use_storage(AzureStorage(blobs, queues))
    try:
        response = call("health")
    finally:
        context.use_storage(None)
    body = payload(response)
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["storage"]["reachable"] is False and "ServiceRequestError" in body["storage"]["error"]

"""Blob triggers through the runner: once per version, receipts across restarts, poison, EventGrid."""

from __future__ import annotations

import json
import time

import requests
import sample_app


def _events(probe, names, function="on_blob"):
    return [json.loads(m) for m in probe.messages(names["SAMPLE_EVENTS_QUEUE"]) if json.loads(m)["function"] == function]


def test_new_blob_fires_once_changed_blob_fires_again(make_host, names, probe, unique):
    container = names["SAMPLE_CONTAINER"]
    host = make_host()
    etag = probe.upload(container, "incoming/a/b.csv", b"x,y\n1,2\n")
    probe.upload(container, "elsewhere/c.csv", b"not matched")
    host.wait_idle(20)
    host.wait_idle(20)  # more scans: still once
    assert [e["name"] for e in _events(probe, names)] == ["a/b.csv"]  # {name} spans the rest of the path
    assert probe.read(container, "processed/a/b.csv") == b"X,Y\n1,2\n"
    receipt = f"blobreceipts/test-{unique}/Host.Functions.on_blob/{etag}/{container}/incoming/a/b.csv"
    assert probe.blob_names("azure-webjobs-hosts", f"blobreceipts/test-{unique}/") == [receipt]  # ETag quoted

    probe.upload(container, "incoming/a/b.csv", b"changed")  # new ETag: fires again
    host.wait_idle(20)
    assert [e["length"] for e in _events(probe, names)] == [8, 7]


def test_restart_does_not_fire_again(make_host, names, probe):
    container = names["SAMPLE_CONTAINER"]
    probe.upload(container, "incoming/existing.txt", b"already here before the first start")
    first = make_host()
    first.wait_idle(20)
    first.stop()
    assert len(_events(probe, names)) == 1
    second = make_host()
    second.wait_idle(20)
    assert len(_events(probe, names)) == 1
    assert len([c for c in sample_app.calls("on_blob") if c["name"] == "existing.txt" and c["etag"]]) >= 1


def test_failing_blob_goes_to_poison_queue_after_five_attempts(make_host, names, probe):
    container = names["SAMPLE_CONTAINER"]
    host = make_host()
    etag = probe.upload(container, f"incoming/bad-{container}.txt", b"cannot parse")
    host.wait_idle(30)
    host.wait_idle(5)  # no further attempts
    assert len([c for c in sample_app.calls("on_blob") if c["name"] == f"bad-{container}.txt"]) == 5
    poison = [json.loads(m) for m in probe.messages("webjobs-blobtrigger-poison")]
    mine = [m for m in poison if m["ContainerName"] == container]
    assert mine == [
        {
            "Type": "BlobTrigger",
            "FunctionId": "Host.Functions.on_blob",
            "BlobType": "BlockBlob",
            "ContainerName": container,
            "BlobName": f"incoming/bad-{container}.txt",
            "ETag": etag,
        }
    ]
    assert _events(probe, names) == []


def test_eventgrid_source_is_not_polled_and_fires_from_webhook(make_host, names, probe):
    container = names["SAMPLE_CONTAINER"]
    host = make_host()
    probe.upload(container, "grid/g1.bin", b"12345")
    host.wait_idle(20)
    time.sleep(0.5)  # several scan intervals: an EventGrid-source trigger is never scanned
    assert _events(probe, names, "on_grid") == []

    webhook = f"{host.url}/runtime/webhooks/blobs?functionName=Host.Functions.on_grid"
    validation = [
        {
            "id": "v1",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "subject": "",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "dataVersion": "1",
            "eventTime": "2024-01-01T00:00:00Z",
        }
    ]
    response = requests.post(webhook, json=validation, headers={"aeg-event-type": "SubscriptionValidation"}, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}

    created = [
        {
            "id": "e1",
            "eventType": "Microsoft.Storage.BlobCreated",
            "subject": f"/blobServices/default/containers/{container}/blobs/grid/g1.bin",
            "data": {"api": "PutBlob", "url": f"http://127.0.0.1/devstoreaccount1/{container}/grid/g1.bin"},
            "dataVersion": "",
            "eventTime": "2024-01-01T00:00:00Z",
        }
    ]
    response = requests.post(webhook, json=created, headers={"aeg-event-type": "Notification"}, timeout=10)
    assert response.status_code == 202
    host.wait_idle(20)
    assert _events(probe, names, "on_grid") == [{"function": "on_grid", "length": 5}]

    # the same event again: the receipt for this ETag stops a second invocation
    assert requests.post(webhook, json=created, timeout=10).status_code == 202
    host.wait_idle(20)
    assert len(_events(probe, names, "on_grid")) == 1

    # unknown function: 404
    missing = requests.post(f"{host.url}/runtime/webhooks/blobs?functionName=Host.Functions.nope", json=created, timeout=10)
    assert missing.status_code == 404


def test_eventgrid_event_by_url_for_a_scanned_trigger(make_host, names, probe):
    """Any blob trigger accepts the webhook; the blob can be named by data.url alone."""
    container = names["SAMPLE_CONTAINER"]
    host = make_host(blob_poll_interval=60)  # the scan would be too slow: only the webhook fires
    host.wait_idle(10)
    probe.upload(container, "incoming/by-url.txt", b"abc")
    event = {
        "id": "e2",
        "eventType": "Microsoft.Storage.BlobCreated",
        "data": {"url": f"http://127.0.0.1:10000/devstoreaccount1/{container}/incoming/by-url.txt"},
    }
    webhook = f"{host.url}/runtime/webhooks/blobs?functionName=Host.Functions.on_blob"
    assert requests.post(webhook, json=[event], timeout=10).status_code == 202
    deadline = time.monotonic() + 10
    while not _events(probe, names) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [e["name"] for e in _events(probe, names)] == ["by-url.txt"]


def test_a_blob_storage_refuses_does_not_hold_up_the_others(make_host, names, probe, monkeypatch):
    """A name whose receipt or content storage will not serve (as Azure does for names past its limits)
    fails on its own; the blobs listed after it still fire."""
    from devhost.blobs import BlobListener

    container = names["SAMPLE_CONTAINER"]
    stuck = "incoming/a-stuck.txt"
    real = BlobListener._has_receipt

    def refusing(self, name, etag):
        if name == stuck:
            raise RuntimeError("the service refused this name")
        return real(self, name, etag)

    real_attempt = BlobListener._attempt

    def attempt(self, key, source):
        if key[0] == stuck:
            raise RuntimeError("the service refused this name")
        return real_attempt(self, key, source)

    monkeypatch.setattr(BlobListener, "_has_receipt", refusing)
    monkeypatch.setattr(BlobListener, "_attempt", attempt)
    probe.upload(container, stuck, b"x")
    probe.upload(container, "incoming/b-fine.txt", b"fine")
    host = make_host()
    host.wait_idle(30)
    assert [e["name"] for e in _events(probe, names)] == ["b-fine.txt"]
    poison = [json.loads(m) for m in probe.messages("webjobs-blobtrigger-poison")]
    assert [m["BlobName"] for m in poison if m["ContainerName"] == container] == [stuck]

"""Queue triggers through the runner: outputs, retries with dequeue_count, poison queue, encoding."""

from __future__ import annotations

import base64
import json
import logging

import sample_app


def test_queue_trigger_writes_queue_and_blob_outputs(make_host, names, probe):
    host = make_host()
    probe.send(names["SAMPLE_IN_QUEUE"], json.dumps({"id": "m1"}))
    probe.send(names["SAMPLE_IN_QUEUE"], json.dumps({"id": "m2"}))
    host.wait_idle(20)
    assert sorted(probe.messages(names["SAMPLE_OUT_QUEUE"])) == ["m1:a", "m1:b", "m2:a", "m2:b"]
    assert json.loads(probe.read(names["SAMPLE_CONTAINER"], "relayed/m1.json")) == {"id": "m1"}
    assert probe.raw_messages(names["SAMPLE_IN_QUEUE"]) == []  # deleted after success
    assert [c["dequeue_count"] for c in sample_app.calls("relay") if c["id"] == "m1"] == [1]


def test_failure_retries_then_poison_queue(make_host, names, probe, caplog):
    host = make_host()
    original = json.dumps({"id": "f1"})
    with caplog.at_level(logging.WARNING, logger="devhost"):
        probe.send(names["SAMPLE_FAIL_QUEUE"], original)
        host.wait_idle(30)
    # maxDequeueCount 3 in the test host.json: three attempts, each seen with a higher dequeue_count
    assert [c["dequeue_count"] for c in sample_app.calls("flaky") if c["id"] == "f1"] == [1, 2, 3]
    poison = probe.raw_messages(f"{names['SAMPLE_FAIL_QUEUE']}-poison")
    assert len(poison) == 1
    assert poison[0].content == base64.b64encode(original.encode()).decode()  # copied unchanged
    assert probe.raw_messages(names["SAMPLE_FAIL_QUEUE"]) == []
    assert probe.messages(names["SAMPLE_OUT_QUEUE"]) == []  # outputs of failed invocations discarded
    assert any("MaxDequeueCount of 3" in r.getMessage() and "-poison" in r.getMessage() for r in caplog.records)


def test_failure_then_success_on_retry(make_host, names, probe):
    host = make_host()
    probe.send(names["SAMPLE_FAIL_QUEUE"], json.dumps({"id": "f2", "succeed_at": 2}))
    host.wait_idle(30)
    assert [c["dequeue_count"] for c in sample_app.calls("flaky") if c["id"] == "f2"] == [1, 2]
    assert probe.messages(names["SAMPLE_OUT_QUEUE"]) == ["never-written:f2"]  # written by the success
    assert probe.raw_messages(f"{names['SAMPLE_FAIL_QUEUE']}-poison") == []


def test_message_over_max_dequeue_count_goes_straight_to_poison(make_host, names, probe, connection_string):
    """A message already dequeued more than maxDequeueCount times (e.g. a crashed host) is not run."""
    from azure.storage.queue import QueueClient

    queue = names["SAMPLE_FAIL_QUEUE"]
    probe.send(queue, json.dumps({"id": "f3"}))
    client = QueueClient.from_connection_string(connection_string, queue)
    for _ in range(3):  # dequeue three times without processing, as a crashing host would
        (message,) = list(client.receive_messages(max_messages=1, visibility_timeout=1))
        client.update_message(message.id, message.pop_receipt, visibility_timeout=0)
    host = make_host()
    host.wait_idle(20)
    assert [c for c in sample_app.calls("flaky") if c["id"] == "f3"] == []
    assert len(probe.raw_messages(f"{queue}-poison")) == 1

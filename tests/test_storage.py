"""The storage layer against a real Azurite: conditional writes, streaming, base64 queue messages."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from shared.platform.errors import BlobNotFound, ConditionFailed
from shared.platform.settings import load_settings
from shared.platform.storage import Storage


def test_create_if_absent_refuses_second_create(storage: Storage, unique: str):
    name = f"doc-{unique}.json"
    storage.create_json("runs", name, {"n": 1})
    with pytest.raises(ConditionFailed):
        storage.create_json("runs", name, {"n": 2})
    assert storage.read_json("runs", name).value == {"n": 1}


def test_replace_needs_the_current_etag(storage: Storage, unique: str):
    name = f"doc-{unique}.json"
    etag = storage.create_json("runs", name, {"n": 1})
    storage.replace_json("runs", name, {"n": 2}, etag)
    with pytest.raises(ConditionFailed):
        storage.replace_json("runs", name, {"n": 3}, etag)
    assert storage.read_json("runs", name).value == {"n": 2}


def test_concurrent_updates_lose_nothing(storage: Storage, unique: str):
    name = f"counter-{unique}.json"

    def bump():
        for _ in range(10):
            storage.update_json("runs", name, lambda v: {"n": (v or {"n": 0})["n"] + 1})

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert storage.read_json("runs", name).value == {"n": 40}


def test_stream_reads_large_blob_in_pieces(storage: Storage, unique: str):
    payload = bytes(range(256)) * 40_000  # ~10 MB
    storage.put_bytes("datalake", f"big-{unique}.bin", payload)
    with storage.open_stream("datalake", f"big-{unique}.bin") as stream:
        first = stream.read(1000)
        rest = stream.read()
    assert first + rest == payload
    with pytest.raises(BlobNotFound):
        storage.open_stream("datalake", f"missing-{unique}.bin")


def test_queue_messages_are_base64_like_the_functions_host(storage: Storage, unique: str):
    queue = f"q-{unique}"
    storage.send(queue, {"hello": "world"})
    raw = storage.queues.get_queue_client(queue).receive_message()
    assert json.loads(base64.b64decode(raw.content)) == {"hello": "world"}


def test_settings_build_a_working_storage(storage_env: str):
    settings = load_settings()
    storage = Storage.connect(settings.storage)
    storage.write_json("runs", "probe.json", {"ok": True})
    assert storage.read_json("runs", "probe.json").value == {"ok": True}


def test_update_leaves_absent_documents_absent_when_asked(storage: Storage, unique: str):
    name = f"absent-{unique}.json"
    assert storage.update_json("runs", name, lambda v: {"n": 1}, create=False) is None
    assert storage.read_json("runs", name) is None


def test_update_that_changes_nothing_writes_nothing(storage: Storage, unique: str):
    name = f"same-{unique}.json"
    etag = storage.create_json("runs", name, {"n": 1})
    storage.update_json("runs", name, lambda v: v)
    assert storage.read_json("runs", name).etag == etag
    storage.update_json("runs", name, lambda v: {"n": 2})
    assert storage.read_json("runs", name).etag != etag

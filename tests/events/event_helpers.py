"""Helpers the event tests share (kept out of conftest.py: test folders each have one, so
`from conftest import ...` would depend on which folder pytest imported first)."""

from __future__ import annotations

import json
from collections.abc import Callable

from shared.platform import names
from shared.platform.storage import Storage


def queued(storage: Storage, queue: str) -> list[dict]:
    """Every message visible on a queue (peeked, not removed), parsed as JSON."""
    return [json.loads(m.content) for m in storage.queue(queue).peek_messages(max_messages=32)]


def runs_of(storage: Storage, model: str) -> list[dict]:
    found = []
    for item in storage.list(names.RUNS):
        if "/" in item.name:
            continue
        run = storage.read_json(names.RUNS, item.name).value
        if run["model"] == model:
            found.append(run)
    return found


def drain(storage: Storage, functions: dict[str, Callable], queue: str = names.PUSH_QUEUE,
          function: str = "on_push") -> int:
    """Deliver every message on `queue` to the app's queue function, as the host would; returns the count."""
    import azure.functions as func

    count = 0
    client = storage.queue(queue)
    while True:
        batch = list(client.receive_messages(max_messages=32, visibility_timeout=30))
        if not batch:
            return count
        for message in batch:
            functions[function](func.QueueMessage(id=message.id, body=message.content.encode()))
            client.delete_message(message)
            count += 1


def messages_for(storage: Storage, queue: str, run_id: str) -> list[dict]:
    return [m for m in queued(storage, queue) if m.get("run_id") == run_id]

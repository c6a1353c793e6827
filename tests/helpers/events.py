"""Queue and run look-ups the event tests share, on either storage."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace

from shared.platform import names
from shared.platform.storage import Storage
from tests.helpers import queues


def queued(storage: Storage, queue: str) -> list[dict]:
    """Every message visible on a queue (peeked, not removed), parsed as JSON."""
    return [json.loads(body) for body in queues.peek(storage, queue)]


def runs_of(storage: Storage, model: str) -> list[dict]:
    found = []
    for item in storage.list(names.RUNS):
        if "/" in item.name:
            continue
        run = storage.read_json(names.RUNS, item.name).value
        if isinstance(run, dict) and run.get("model") == model:  # the session Azurite holds other tests' blobs too
            found.append(run)
    return found


def invocation(traceparent: str | None = None) -> SimpleNamespace:
    """The `context` the Python worker passes a function (func.Context's shape): its trace context
    holds the traceparent the host gave the invocation."""
    return SimpleNamespace(invocation_id="test", function_name="lake",
                           trace_context=SimpleNamespace(trace_parent=traceparent, trace_state="", attributes={}))


def drain(storage: Storage, functions: dict[str, Callable], queue: str = names.PUSH_QUEUE,
          function: str = "on_push") -> int:
    """Deliver every message on `queue` to the app's queue function, as the host would; returns the count."""
    import azure.functions as func

    count = 0
    while batch := queues.take(storage, queue):
        for body in batch:
            functions[function](func.QueueMessage(body=body.encode()))
            count += 1
    return count


def messages_for(storage: Storage, queue: str, run_id: str) -> list[dict]:
    return [m for m in queued(storage, queue) if m.get("run_id") == run_id]

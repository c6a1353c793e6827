"""A worker process of tests/reliability/test_process_kills.py: it does what a Functions worker does
with the deliveries the test (standing in for the host) hands it, through the app's own triggers, on
the storage account its environment names (Azurite); with a kill point it dies by SIGKILL there.

    python -m tests.reliability.kill_worker [--kill '<point as JSON>']

One JSON request a line on stdin, one JSON answer a line on stdout (anything the code prints goes
to stderr, with the logs). Each request carries its run's "settings" (app settings set, or removed
when null, while it runs: one worker serves the runs of several models) and one of:
- {"deliver": "<queue>", "body": "<message>"}: the queue trigger of that queue, with the message;
- {"upload": "<blob under labeled/>", "etag": "<etag>"}: the labeled-data blob trigger (`on_labeled`);
- {"sweep": seconds}: the sweeper (`shared.jobs.sweeper.sweep`) with its clock that far ahead, as if
  that much time had passed (a stuck step's timeout);
answered {"ok": true}, or {"error": "...", "traceback": "..."} when the trigger raised (the host would
retry the message).

A kill point is {"step", "when": "before"|"after", "container" and "name" (a regex searched in the blob
name) or "queue", "nth", optional "step_status"}: while a delivery of `step` runs (intake for an
upload), the nth blob write (`put_bytes`, under which every JSON document write goes) or queue send
(`send_text`) that matches kills this process before it is made, or after it returned. With
"step_status", only writes of a run record whose entry for `step` has that status match (the write
that completes the step). The hook lives here, in the test's worker, not in the app's code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import traceback
from datetime import datetime, timedelta, timezone
from typing import IO, Any

import azure.functions as func

from shared.platform import context, names
from shared.platform.azure_storage import AzureStorage, service_clients
from tests.helpers.events import invocation

QUEUES = {names.FETCH_QUEUE: "fetch", names.UNIT_TEST_QUEUE: "unit_test", names.RETRAIN_QUEUE: "retrain",
          names.REGISTER_QUEUE: "register", names.TEST_QUEUE: "test", names.DEPLOY_QUEUE: "deploy"}


class KillingStorage(AzureStorage):
    """The app's Azure storage, dying at the kill point while a delivery of its step runs."""

    point: dict[str, Any] | None = None
    step: str | None = None  # the step of the delivery running now
    seen = 0

    def _matches(self, container: str | None, name: str | None, queue: str | None, data: Any) -> bool:
        point = self.point
        if point is None or self.step != point["step"]:
            return False
        if queue is not None:
            return point.get("queue") == queue
        if point.get("container") != container or not re.search(point["name"], name or ""):
            return False
        if point.get("step_status") is None:
            return True
        entry = json.loads(data)["steps"].get(point["step"], {}) if isinstance(data, bytes) else {}
        return entry.get("status") == point["step_status"]

    def _at(self, when: str, matched: bool) -> None:
        if not matched or self.point is None or self.point["when"] != when:
            return
        self.seen += 1
        if self.seen == self.point["nth"]:
            sys.stderr.write(f"kill_worker: SIGKILL {when} call {self.seen} matching {self.point}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def put_bytes(self, container: str, name: str, data: bytes | IO[bytes], **kwargs: Any) -> str:
        matched = self._matches(container, name, None, data)
        self._at("before", matched)
        etag = super().put_bytes(container, name, data, **kwargs)
        self._at("after", matched)
        return etag

    def send_text(self, queue: str, text: str, *, delay_seconds: int | None = None) -> None:
        matched = self._matches(None, None, queue, text)
        self._at("before", matched)
        super().send_text(queue, text, delay_seconds=delay_seconds)
        self._at("after", matched)


def triggers() -> dict[str, Any]:
    """The user functions of the chain and lake blueprints, by name, as the host indexes them."""
    from functions import chain, lake

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(chain.bp)
    app.register_functions(lake.bp)
    return {fn.get_function_name(): fn.get_user_function() for fn in app.get_functions()}


def handle(storage: KillingStorage, functions: dict[str, Any], request: dict[str, Any]) -> None:
    settings = {key: value for key, value in request["settings"].items() if os.environ.get(key) != value}
    for key, value in settings.items():  # a worker serves the runs of any model, with their settings
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if settings:
        context.reset()
    if "deliver" in request:
        storage.step = QUEUES[request["deliver"]]
        functions[storage.step](func.QueueMessage(body=request["body"].encode()))
    elif "upload" in request:
        storage.step = "intake"
        blob = request["upload"]
        data = storage.get_bytes(names.DATALAKE, blob)[0]
        functions["on_labeled"](func.blob.InputStream(
            data=data, name=f"{names.DATALAKE}/{blob}", length=len(data),
            uri=f"http://127.0.0.1/{names.DATALAKE}/{blob}", blob_properties={"ETag": request["etag"]}), invocation())
    else:
        from shared.jobs import sweeper

        storage.step = "sweep"
        sweeper.sweep(storage, context.settings(), datetime.now(timezone.utc) + timedelta(seconds=request["sweep"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill", help="the kill point, as JSON")
    arguments = parser.parse_args()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stdout carries the answers only
    storage = KillingStorage(*service_clients(context.settings().storage))
    storage.point = json.loads(arguments.kill) if arguments.kill else None
    context.use_storage(storage)
    functions = triggers()
    for line in sys.stdin:
        try:
            handle(storage, functions, json.loads(line))
            answer: dict[str, Any] = {"ok": True}
        except Exception as error:
            answer = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        storage.step = None
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()

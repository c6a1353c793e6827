"""A small FunctionApp for the devhost tests: one function per trigger kind, outputs, failures.

Queue, container and schedule names are `%Setting%` expressions so that each test runs the app
against its own names in the shared Azurite. `CALLS` records invocations (function name, detail)
for assertions that storage alone cannot show (dequeue_count, past_due).
"""

from __future__ import annotations

import json
import threading
import time

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

CALLS: list[tuple[str, dict]] = []
_lock = threading.Lock()


def record(function: str, **detail) -> None:
    with _lock:
        CALLS.append((function, detail))


def calls(function: str) -> list[dict]:
    with _lock:
        return [detail for name, detail in CALLS if name == function]


# -- HTTP --------------------------------------------------------------------------------------


@app.function_name("echo")
@app.route(route="items/{item_id}", methods=["GET", "POST"])
@app.queue_output(arg_name="out", queue_name="%SAMPLE_HTTP_QUEUE%", connection="AzureWebJobsStorage")
def echo(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    if req.method == "POST":
        out.set(req.get_body().decode())
    payload = {
        "item_id": req.route_params.get("item_id"),
        "method": req.method,
        "query": dict(req.params),
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", status_code=200)


@app.function_name("files")
@app.route(route="files/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("path", ""), status_code=200)


@app.function_name("open_door")
@app.route(route="open", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def open_door(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("open", status_code=200)


@app.function_name("boom")
@app.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom on purpose")


# -- queues -------------------------------------------------------------------------------------


@app.function_name("relay")
@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_IN_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%SAMPLE_OUT_QUEUE%", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="copy", path="%SAMPLE_CONTAINER%/relayed/{id}.json", connection="AzureWebJobsStorage")
def relay(msg: func.QueueMessage, out: func.Out[str], copy: func.Out[str]) -> None:
    body = msg.get_json()
    record("relay", id=body["id"], dequeue_count=msg.dequeue_count)
    out.set([f"{body['id']}:a", f"{body['id']}:b"])
    copy.set(json.dumps(body))


@app.function_name("flaky")
@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_FAIL_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%SAMPLE_OUT_QUEUE%", connection="AzureWebJobsStorage")
def flaky(msg: func.QueueMessage, out: func.Out[str]) -> None:
    body = msg.get_json()
    record("flaky", id=body["id"], dequeue_count=msg.dequeue_count)
    out.set(f"never-written:{body['id']}")  # discarded: outputs are written only on success
    if msg.dequeue_count < body.get("succeed_at", 10**6):
        raise ValueError(f"failing on purpose at dequeue_count={msg.dequeue_count}")


@app.function_name("slow")
@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_SLOW_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="done", queue_name="%SAMPLE_DONE_QUEUE%", connection="AzureWebJobsStorage")
def slow(msg: str, done: func.Out[str]) -> None:
    body = json.loads(msg)
    record("slow", id=body["id"])
    time.sleep(body.get("seconds", 1))
    done.set(body["id"])


# -- blobs --------------------------------------------------------------------------------------


@app.function_name("on_blob")
@app.blob_trigger(arg_name="blob", path="%SAMPLE_CONTAINER%/incoming/{name}", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="events", queue_name="%SAMPLE_EVENTS_QUEUE%", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="processed", path="%SAMPLE_CONTAINER%/processed/{name}", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream, events: func.Out[str], processed: func.Out[bytes]) -> None:
    name = blob.name.split("/incoming/", 1)[1]
    record("on_blob", name=name, etag=(blob.blob_properties or {}).get("ETag"))
    if name.startswith("bad"):
        raise ValueError(f"cannot process {name}")
    data = blob.read()
    events.set(json.dumps({"function": "on_blob", "name": name, "length": len(data)}))
    processed.set(data.upper())


@app.function_name("on_grid")
@app.blob_trigger(
    arg_name="blob", path="%SAMPLE_CONTAINER%/grid/{name}", connection="AzureWebJobsStorage", source="EventGrid"
)
@app.queue_output(arg_name="events", queue_name="%SAMPLE_EVENTS_QUEUE%", connection="AzureWebJobsStorage")
def on_grid(blob: bytes, events: func.Out[str]) -> None:
    record("on_grid", length=len(blob))
    events.set(json.dumps({"function": "on_grid", "length": len(blob)}))


# -- timers -------------------------------------------------------------------------------------


@app.function_name("tick")
@app.timer_trigger(arg_name="timer", schedule="%SAMPLE_TICK_SCHEDULE%")
@app.queue_output(arg_name="out", queue_name="%SAMPLE_TIMER_QUEUE%", connection="AzureWebJobsStorage")
def tick(timer: func.TimerRequest, out: func.Out[str]) -> None:
    record("tick", past_due=timer.past_due)
    out.set(json.dumps({"function": "tick", "past_due": timer.past_due}))


@app.function_name("boot")
@app.timer_trigger(arg_name="timer", schedule="%SAMPLE_BOOT_SCHEDULE%", run_on_startup=True)
@app.queue_output(arg_name="out", queue_name="%SAMPLE_TIMER_QUEUE%", connection="AzureWebJobsStorage")
def boot(timer: func.TimerRequest, out: func.Out[str]) -> None:
    record("boot", past_due=timer.past_due)
    out.set(json.dumps({"function": "boot", "past_due": timer.past_due}))

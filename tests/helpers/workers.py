"""Real parallel workers for the concurrency cases: separate processes (spawned, so each has its own
interpreter, GIL, `shared.platform.context` and SDK clients, as separate Functions hosts would), each
running some of the tasks on threads (as one host runs a batch at once). Every worker connects and
imports first, then waits on one shared event; all are released together, so the calls really
overlap. Each task is a (kind, arguments) tuple that `_do` runs through the app's own code, on the
storage the environment's `AzureWebJobsStorage` names (the spawned processes inherit it)."""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from datetime import datetime
from typing import Any

Task = tuple[str, tuple[Any, ...]]
WAIT_SECONDS = 240


def run_at_once(tasks: list[Task], processes: int = 4) -> list[dict[str, Any]]:
    """Run every task at the same moment across `processes` processes; returns, in task order,
    {"result": ...} or {"error": "<type>: <message>", "traceback": ...} for each."""
    spawn = multiprocessing.get_context("spawn")
    go, ready, results = spawn.Event(), spawn.Queue(), spawn.Queue()
    shares = [[(i, task) for i, task in enumerate(tasks) if i % processes == p] for p in range(processes)]
    workers = [spawn.Process(target=_serve, args=(share, go, ready, results), daemon=True) for share in shares if share]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=WAIT_SECONDS)
        go.set()
        answers = dict(results.get(timeout=WAIT_SECONDS) for _ in tasks)
    finally:
        for worker in workers:
            worker.join(timeout=WAIT_SECONDS)
            if worker.is_alive():
                worker.kill()
    return [answers[i] for i in range(len(tasks))]


def _serve(share, go, ready, results) -> None:
    from shared.platform import context

    context.storage(), context.settings()  # connect before the release, as a warm host would be
    _functions()
    threads = [threading.Thread(target=_one, args=(i, task, go, results)) for i, task in share]
    for thread in threads:
        thread.start()
    ready.put(len(threads))
    for thread in threads:
        thread.join()


def _one(index: int, task: Task, go, results) -> None:
    go.wait()
    try:
        results.put((index, {"result": _do(*task)}))
    except Exception as error:  # reported to the test, which counts it
        results.put((index, {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}))


_FUNCTIONS: dict[str, Any] = {}


def _functions() -> dict[str, Any]:
    """The chain's queue functions, indexed once per process."""
    if not _FUNCTIONS:
        import azure.functions as func

        from functions import chain

        app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
        app.register_functions(chain.bp)
        _FUNCTIONS.update({fn.get_function_name(): fn.get_user_function() for fn in app.get_functions()})
    return _FUNCTIONS


def _do(kind: str, args: tuple[Any, ...]) -> Any:
    from dataclasses import asdict

    from shared.platform import context

    if kind == "upload":  # the lake trigger's core, as on_labeled calls it
        from shared.events import lake

        path, etag, now = args
        return asdict(lake.handle_upload(context.storage(), context.settings(), path, etag, datetime.fromisoformat(now)))
    if kind == "deliver":  # a queue message to the app's own trigger function, first delivery
        from azure.functions.queue import QueueMessage

        function, body = args
        _functions()[function](QueueMessage(body=body.encode(), dequeue_count=1))
        return None
    if kind == "register":  # the registry's write, as a step that took over an expired lease would call it
        from shared.model import registry

        model, run_id = args
        return registry.register(context.storage(), model, run_id)
    if kind == "move":
        from shared.model import registry

        model, alias, version, run_id = args
        registry.move_alias(context.storage(), model, alias, version, why="concurrency case", by="worker", run_id=run_id)
        return None
    raise ValueError(f"unknown task kind {kind!r}")

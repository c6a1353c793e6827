"""Running one invocation: arguments from bindings, the call, outputs, one log line.

Every invocation gets an id (uuid4), is timed, and ends with one line on the `devhost` logger:

    Executed 'Functions.relay' (Succeeded, Id=..., Duration=12ms) queue=retrain id=... dequeue_count=1

Failures are logged at ERROR with the traceback. The tracker counts invocations in flight so the
host can drain them at shutdown and tell when it is idle.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devhost.bindings import Out, read_input, write_outputs

if TYPE_CHECKING:
    from devhost.metadata import FunctionSpec
    from devhost.runtime import Runtime

log = logging.getLogger("devhost")


@dataclass
class Result:
    ok: bool
    invocation_id: str
    duration_ms: float
    return_value: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


class Context:
    """The `context` argument (func.Context shape): invocation id, function name and directory."""

    def __init__(self, invocation_id: str, function_name: str, directory: str):
        self.invocation_id = invocation_id
        self.function_name = function_name
        self.function_directory = directory
        self.trace_context = None
        self.retry_context = None
        self.thread_local_storage = threading.local()


class Tracker:
    """Invocations in flight, and when the last one started or ended (for wait_idle)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.inflight = 0
        self.last_activity = time.monotonic()

    @contextmanager
    def track(self) -> Iterator[None]:
        with self._condition:
            self.inflight += 1
            self.last_activity = time.monotonic()
        try:
            yield
        finally:
            with self._condition:
                self.inflight -= 1
                self.last_activity = time.monotonic()
                self._condition.notify_all()

    def touch(self) -> None:
        with self._condition:
            self.last_activity = time.monotonic()

    def wait_drained(self, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self.inflight == 0, timeout=timeout)


# Builds the trigger argument for the trigger parameter's annotation (str, bytes, func.QueueMessage...).
TriggerArgument = Callable[[Any], Any]


class Invoker:
    def __init__(self, runtime: Runtime, tracker: Tracker, function_directory: str):
        self.runtime = runtime
        self.tracker = tracker
        self.function_directory = function_directory

    def invoke(self, spec: FunctionSpec, trigger_arg: TriggerArgument, data: dict[str, Any], detail: str) -> Result:
        """Call the function; `trigger_arg(annotation)` builds the trigger argument for its type.

        `data` is the trigger data for binding expressions ({name}, {queueTrigger}, ...).
        Never raises: the outcome is in the Result (and in the log line).
        """
        invocation_id = str(uuid.uuid4())
        started = time.perf_counter()
        outputs: dict[str, Out] = {b["name"]: Out() for b in spec.outputs}
        return_value = None
        error: BaseException | None = None
        written: list[str] = []
        with self.tracker.track():
            try:
                kwargs = self._arguments(spec, trigger_arg, data, outputs, invocation_id)
                return_value = spec.func(**kwargs)
                if inspect.isawaitable(return_value):
                    return_value = asyncio.run(_await(return_value))
                if "$return" in outputs:
                    outputs["$return"].set(return_value)
                values = {name: out.get() for name, out in outputs.items()}
                written = write_outputs(self.runtime, spec, values, data)
            except Exception as caught:  # the function's failure is the invocation's outcome
                error = caught
        duration = (time.perf_counter() - started) * 1000
        outcome = "Succeeded" if error is None else "Failed"
        line = f"Executed 'Functions.{spec.name}' ({outcome}, Id={invocation_id}, Duration={duration:.0f}ms) {detail}"
        if written:
            line += " -> " + "; ".join(written)
        if error is None:
            log.info(line)
        else:
            tb = "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
            log.error("%s\n%s", line, tb)
        return Result(
            ok=error is None,
            invocation_id=invocation_id,
            duration_ms=duration,
            return_value=return_value,
            outputs={name: out.get() for name, out in outputs.items()},
            error=error,
        )

    def invoke_in_background(self, spec: FunctionSpec, trigger_arg: TriggerArgument, data: dict[str, Any], detail: str) -> None:
        """`invoke` in a thread of its own (the admin API): the caller does not wait for the outcome."""
        threading.Thread(
            target=self.invoke, args=(spec, trigger_arg, data, detail), name=f"invoke-{spec.name}", daemon=True
        ).start()

    def _arguments(
        self,
        spec: FunctionSpec,
        trigger_arg: TriggerArgument,
        data: dict[str, Any],
        outputs: dict[str, Out],
        invocation_id: str,
    ) -> dict[str, Any]:
        inputs = {b["name"]: b for b in spec.inputs}
        kwargs: dict[str, Any] = {}
        for name, parameter in spec.parameters.items():
            if name == spec.trigger["name"]:
                kwargs[name] = trigger_arg(parameter.annotation)
            elif name in outputs:
                kwargs[name] = outputs[name]
            elif name in inputs:
                kwargs[name] = read_input(self.runtime, spec, inputs[name], data)
            elif name == "context":
                kwargs[name] = Context(invocation_id, spec.name, self.function_directory)
            elif parameter.default is inspect.Parameter.empty:
                raise TypeError(f"Function '{spec.name}': parameter '{name}' has no binding.")
        return kwargs


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable

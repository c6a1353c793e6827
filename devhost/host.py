"""The host: app settings, host.json, the app's functions, and every listener's life cycle."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devhost.blobs import BlobListener
from devhost.config import HostConfig
from devhost.connections import Connections
from devhost.errors import HostError
from devhost.http import HttpFrontend
from devhost.invocation import Invoker, Tracker
from devhost.listener import Listener
from devhost.metadata import DEFAULT_APP, FunctionSpec, import_app, load_functions
from devhost.queues import QueueListener
from devhost.runtime import QueueWatcher, Runtime
from devhost.timers import TimerListener

log = logging.getLogger("devhost")


def default_host_id() -> str:
    """Like the host locally: from the machine name, lower case, at most 32 characters."""
    cleaned = re.sub(r"[^a-z0-9-]", "", socket.gethostname().lower())[:32].strip("-")
    return cleaned or "devhost"


class Host:
    """Runs a FunctionApp's triggers locally; `start()`/`stop()` or use as a context manager.

    settings: app settings layered over os.environ (exported to os.environ while running, so the
    app's own code sees them). port 0 picks a free port (see `.port` / `.url`).
    """

    def __init__(
        self,
        app: Any = None,
        settings: Mapping[str, str] | None = None,
        *,
        host_json: Path | str | None = None,
        port: int = 7071,
        bind: str = "127.0.0.1",
        require_keys: bool = False,
        host_id: str | None = None,
        blob_poll_interval: float = 1.0,
        drain_timeout: float = 30.0,
        timer_past_due_tolerance: float = 1.0,
        app_directory: Path | str | None = None,
    ):
        self.app = app
        self.settings = dict(settings or {})
        self.app_directory = Path(app_directory or Path.cwd())
        self.host_json = Path(host_json) if host_json is not None else self.app_directory / "host.json"
        self.requested_port = port
        self.bind = bind
        self.require_keys = require_keys
        self._host_id = host_id
        self.blob_poll_interval = blob_poll_interval
        self.drain_timeout = drain_timeout
        self.timer_past_due_tolerance = timer_past_due_tolerance
        self.tracker = Tracker()
        self.env: dict[str, str] = {}
        self.functions: list[FunctionSpec] = []
        self.listeners: list[Listener] = []
        self.http: HttpFrontend | None = None
        self._queues: list[QueueListener] = []  # also in listeners; wait_idle checks their queues
        self._saved_env: dict[str, str | None] = {}
        self._started = False
        self._lock = threading.Lock()

    # -- properties ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self.http is None:
            raise HostError("the host is not started")
        return self.http.port

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    @property
    def host_id(self) -> str:
        return self._host_id or self.env.get("AzureFunctionsWebHost__hostid") or default_host_id()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> Host:
        with self._lock:
            if self._started:
                return self
            self._export_settings()
            try:
                self._start()
            except BaseException:
                self._stop_listeners_quietly()
                self._restore_settings()
                raise
            self._started = True
        return self

    def _start(self) -> None:
        self.env = {**os.environ, **self.settings}
        config = HostConfig.load(self.host_json)
        if self.app is None:
            self.app = import_app(DEFAULT_APP, self.app_directory)
        self.functions = load_functions(self.app, self.env)
        connections = Connections(self.env)
        runtime = Runtime(
            env=self.env,
            config=config,
            connections=connections,
            host_id=self.host_id,
            queue_writes=QueueWatcher(connections, on_write=self.tracker.touch),
        )
        invoker = Invoker(runtime, self.tracker, str(self.app_directory))
        self.listeners, self._queues = [], []
        http_specs = []
        for spec in self.functions:
            kind = spec.trigger_type
            if kind == "httpTrigger":
                http_specs.append(spec)
            elif kind == "queueTrigger":
                queue = QueueListener(spec, runtime, invoker)
                self._queues.append(queue)
                self.listeners.append(queue)
            elif kind == "blobTrigger":
                self.listeners.append(BlobListener(spec, runtime, invoker, poll_interval=self.blob_poll_interval))
            elif kind == "timerTrigger":
                self.listeners.append(
                    TimerListener(spec, runtime, invoker, past_due_tolerance=self.timer_past_due_tolerance)
                )
        try:
            self.http = HttpFrontend(
                http_specs, runtime, invoker, self, port=self.requested_port, bind=self.bind, require_keys=self.require_keys
            )
        except OSError as error:
            raise HostError(f"Cannot listen on {self.bind}:{self.requested_port}: {error.strerror or error}") from None
        lines = ["", "Functions:", ""]
        for spec in self.functions:
            lines.append(f"        {spec.name}: {spec.describe(config.route_prefix.strip('/'), self.url)}")
            lines.append("")
        log.info("\n".join(lines))
        self.http.start()
        for listener in self.listeners:
            listener.start()
        log.info("Host started (host id %s, http %s)", self.host_id, self.url)

    def stop(self, drain_timeout: float | None = None) -> None:
        """Stop polling, let invocations in flight finish (bounded), release unfinished messages."""
        with self._lock:
            if not self._started:
                return
            self._started = False
        log.info("Stopping host: no new work; waiting for invocations in flight.")
        for listener in self.listeners:
            listener.stop()
        if self.http is not None:
            self.http.stop()
        timeout = self.drain_timeout if drain_timeout is None else drain_timeout
        if not self.tracker.wait_drained(timeout):
            log.warning("%d invocation(s) still running after %.0f s; not waiting for them.", self.tracker.inflight, timeout)
        for listener in self.listeners:
            listener.close(2.0)
        self._restore_settings()
        log.info("Host stopped.")

    def __enter__(self) -> Host:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _stop_listeners_quietly(self) -> None:
        for listener in self.listeners:
            try:
                listener.stop()
            except Exception:
                pass
        if self.http is not None:
            try:
                self.http.stop()
            except Exception:
                pass

    def _export_settings(self) -> None:
        self._saved_env = {name: os.environ.get(name) for name in self.settings}
        os.environ.update(self.settings)

    def _restore_settings(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    # -- what the HTTP front end asks of the host (devhost.http.Admin) ---------------------------

    def blob_listener(self, function_name: str) -> BlobListener | None:
        for listener in self.listeners:
            if isinstance(listener, BlobListener) and listener.spec.name.lower() == function_name.lower():
                return listener
        return None

    def run_once(self, function_name: str, text: str = "") -> bool:
        """Run a non-HTTP function once in the background (admin API); False if there is none."""
        for listener in self.listeners:
            if listener.spec.name.lower() == function_name.lower():
                return listener.run_once(text)
        return False

    # -- waiting for the work to settle ------------------------------------------------------------

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until nothing runs and nothing is waiting: no invocation in flight, every queue
        trigger's queue empty (invisible messages count: a failed message waiting to be retried is
        work), every blob scan clean, after a poll/scan that began after this call.
        Timers are ignored. Raises TimeoutError naming what is still busy.
        """
        began = time.monotonic()
        deadline = began + timeout
        queues = self._queues
        while True:
            moment = max(self.tracker.last_activity, began)
            if self.tracker.inflight == 0 and all(l.quiet_since(moment) for l in self.listeners):
                if all(q.queue_empty() for q in queues) and self.tracker.inflight == 0 and self.tracker.last_activity <= moment:
                    return
            if time.monotonic() > deadline:
                busy = [l.busy_reason() for l in self.listeners if not l.quiet_since(moment)]
                busy += [f"queue '{q.queue_name}' not empty" for q in queues if not q.queue_empty()]
                raise TimeoutError(
                    f"host not idle after {timeout:.1f} s: {self.tracker.inflight} invocation(s) in flight; "
                    + ("; ".join(busy) or "activity continuing")
                )
            for listener in self.listeners:
                listener.wake()
            time.sleep(0.05)

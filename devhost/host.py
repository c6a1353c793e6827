"""The host: app settings, host.json, the app's functions, and every listener's life cycle."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.blobs import BlobListener
from devhost.connections import Connections
from devhost.errors import HostError
from devhost.http import HttpFrontend
from devhost.invocation import Invoker, Tracker
from devhost.metadata import FunctionSpec, load_functions
from devhost.queues import QueueListener
from devhost.timers import TimerListener

log = logging.getLogger("devhost")

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


def parse_timespan(value: Any, name: str) -> float:
    """Seconds from a host.json TimeSpan ('00:00:02', '1.00:00:00', '00:00:00.5') or milliseconds."""
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    found = _TIMESPAN.match(str(value).strip())
    if not found:
        raise HostError(f"host.json {name}: expected a TimeSpan like '00:00:30', got {value!r}.")
    days, hours, minutes, seconds = found.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class HostConfig:
    """The host.json settings the runner honours (defaults are the host's)."""

    route_prefix: str = "api"
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"
    blob_parallelism: int = 8
    poison_blob_threshold: int = 5
    function_timeout: float | None = None

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "HostConfig":
        extensions = document.get("extensions") or {}
        http = extensions.get("http") or {}
        queues = extensions.get("queues") or {}
        blobs = extensions.get("blobs") or {}
        batch = int(queues.get("batchSize", 16))
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise HostError(f"host.json extensions.queues.messageEncoding must be 'base64' or 'none', got {encoding!r}.")
        timeout = document.get("functionTimeout")
        return cls(
            route_prefix=str(http.get("routePrefix", "api")),
            batch_size=batch,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch // 2)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=parse_timespan(queues.get("visibilityTimeout", "00:00:00"), "visibilityTimeout"),
            max_polling_interval=parse_timespan(queues.get("maxPollingInterval", "00:01:00"), "maxPollingInterval"),
            message_encoding=encoding,
            blob_parallelism=int(blobs.get("maxDegreeOfParallelism", 8 * (os.cpu_count() or 1))),
            poison_blob_threshold=int(blobs.get("poisonBlobThreshold", 5)),
            function_timeout=None if timeout in (None, "-1") else parse_timespan(timeout, "functionTimeout"),
        )

    @classmethod
    def load(cls, path: Path | str | None) -> "HostConfig":
        if path is None or not Path(path).exists():
            if path is not None:
                log.warning("No host.json at %s: using the host's defaults.", path)
            return cls()
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except json.JSONDecodeError as error:
            raise HostError(f"{path}: invalid JSON ({error.msg} at line {error.lineno}).") from None


def load_local_settings(path: Path | str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `Values` of a local.settings.json that are not set in the environment already."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise HostError(f"{path}: invalid JSON ({error.msg} at line {error.lineno}).") from None
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise HostError(f"{path}: 'Values' must be an object of setting names to strings.")
    return {str(k): str(v) for k, v in values.items() if k not in environ}


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
        self.invoker = Invoker(self)
        self.config = HostConfig()
        self.env: dict[str, str] = {}
        self.functions: list[FunctionSpec] = []
        self.listeners: list[Any] = []
        self.http: HttpFrontend | None = None
        self.connections: Connections | None = None
        self._queue_index: dict[tuple[str, str], list[QueueListener]] = {}
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

    def start(self) -> "Host":
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
        self.config = HostConfig.load(self.host_json)
        if self.app is None:
            from function_app import app  # the project's app, imported like the Python worker does

            self.app = app
        self.functions = load_functions(self.app, self.env)
        self.connections = Connections(self.env)
        listeners: list[Any] = []
        http_specs = []
        for spec in self.functions:
            kind = spec.trigger_type
            if kind == "httpTrigger":
                http_specs.append(spec)
            elif kind == "queueTrigger":
                listeners.append(QueueListener(self, spec))
            elif kind == "blobTrigger":
                listeners.append(BlobListener(self, spec))
            elif kind == "timerTrigger":
                listeners.append(TimerListener(self, spec))
        try:
            self.http = HttpFrontend(self, http_specs, self.requested_port, self.bind)
        except OSError as error:
            raise HostError(f"Cannot listen on {self.bind}:{self.requested_port}: {error.strerror or error}") from None
        self.listeners = listeners
        self._queue_index = {}
        for listener in listeners:
            if isinstance(listener, QueueListener):
                key = (self.connections.account_key(listener.connection), listener.queue_name)
                self._queue_index.setdefault(key, []).append(listener)
        lines = ["", "Functions:", ""]
        for spec in self.functions:
            lines.append(f"        {spec.name}: {spec.describe(self.config.route_prefix.strip('/'), self.url)}")
            lines.append("")
        log.info("\n".join(lines))
        self.http.start()
        for listener in listeners:
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
            listener.stop_polling()
        if self.http is not None:
            self.http.stop()
        timeout = self.drain_timeout if drain_timeout is None else drain_timeout
        if not self.tracker.wait_drained(timeout):
            log.warning("%d invocation(s) still running after %.0f s; not waiting for them.", self.tracker.inflight, timeout)
        for listener in self.listeners:
            if isinstance(listener, QueueListener):
                listener.release_unfinished()
        for listener in self.listeners:
            listener.join(2.0)
        self._restore_settings()
        log.info("Host stopped.")

    def __enter__(self) -> "Host":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _stop_listeners_quietly(self) -> None:
        for listener in self.listeners:
            try:
                listener.stop_polling()
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

    # -- cooperation between listeners -----------------------------------------------------------

    def notify_queue(self, connection: str | None, queue_name: str) -> None:
        """An output binding wrote to a queue: wake its listener now (the host's SharedQueueWatcher)."""
        self.tracker.touch()
        if self.connections is None:
            return
        for listener in self._queue_index.get((self.connections.account_key(connection), queue_name), []):
            listener.wake()

    def blob_listener(self, function_name: str) -> BlobListener | None:
        for listener in self.listeners:
            if isinstance(listener, BlobListener) and listener.spec.name.lower() == function_name.lower():
                return listener
        return None

    def run_once(self, function_name: str, text: str = "") -> bool:
        """Run a non-HTTP function once in the background (admin API); False if there is none."""
        from azure.functions.queue import QueueMessage
        from azure.functions.timer import TimerRequest

        for listener in self.listeners:
            spec = listener.spec
            if spec.name.lower() != function_name.lower():
                continue
            if isinstance(listener, BlobListener):
                container, _, name = text.partition("/")
                return listener.accept_event(container, name)
            if isinstance(listener, QueueListener):
                body = text.encode("utf-8")
                message = QueueMessage(id="admin", body=body, dequeue_count=1)
                data: dict[str, Any] = {"queueTrigger": text}
                target, argument = spec, (lambda annotation: text if annotation in (str, "str") else message)
            else:
                data = {}
                request = TimerRequest(past_due=False)
                target, argument = spec, (lambda annotation: request)
            threading.Thread(
                target=self.invoker.invoke, args=(target, argument, data, "admin invoke"), daemon=True
            ).start()
            return True
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
        queues = [l for l in self.listeners if isinstance(l, QueueListener)]
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

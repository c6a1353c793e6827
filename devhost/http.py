"""HTTP front end: HTTP triggers under /<routePrefix>/<route>, the EventGrid blob webhook, admin.

- Routes use the host's template syntax: `{id}`, `{id:int}` (int, long, alpha, bool, guid,
  double, decimal, datetime, minlength etc. accepted; int/long/alpha/bool/guid/double checked),
  optional `{id?}` and catch-all `{*path}`; matching ignores case. Unknown path: 404; known path,
  method not allowed (any method token, QUERY included): 405 with an Allow header.
- Auth levels as `func start`: keys are not checked unless `require_keys`; then FUNCTION needs
  `x-functions-key` header or `code` query parameter equal to DEVHOST_FUNCTION_KEY (or the master
  key DEVHOST_MASTER_KEY), ADMIN needs DEVHOST_MASTER_KEY, ANONYMOUS is always open.
- An unhandled exception in the function answers 500 with an empty body.
- `POST /runtime/webhooks/blobs?functionName=Host.Functions.<name>`: EventGrid events (array),
  SubscriptionValidation answered with {"validationResponse": code}; BlobCreated events fire the
  blob trigger (202 Accepted, processed in the background like the host).
- `POST /admin/functions/<name>` with {"input": "..."} runs a non-HTTP function once (like the
  host's admin API): timer (no input), queue (input = message text), blob (input = container/blob).
- `GET /admin/host/status` answers {"state": "Running"}.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func

if TYPE_CHECKING:
    from devhost.blobs import BlobListener
    from devhost.invocation import Invoker
    from devhost.metadata import FunctionSpec
    from devhost.runtime import Runtime

log = logging.getLogger("devhost")

ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}
_PARAM = re.compile(r"\{([^{}]+)\}")


class Admin(Protocol):
    """What the EventGrid webhook and the admin API need of the host (the Host is one)."""

    def blob_listener(self, function_name: str) -> BlobListener | None: ...

    def run_once(self, function_name: str, text: str = "") -> bool: ...


class Route:
    def __init__(self, spec: FunctionSpec):
        self.spec = spec
        self.template = (spec.trigger.get("route") or spec.name).strip("/")
        methods = [m.upper() for m in spec.trigger.get("methods") or []]
        self.methods = tuple(methods) or ALL_METHODS
        self.auth_level = str(spec.trigger.get("authLevel") or "function").lower()
        self.regex, self.parameters, self.literal_length = self._compile(self.template)

    @staticmethod
    def _compile(template: str) -> tuple[re.Pattern, int, int]:
        regex = ""
        parameters = 0
        literal = 0
        for index, segment in enumerate(template.split("/") if template else []):
            optional = re.fullmatch(r"\{([A-Za-z_]\w*)(?::[^{}?]*)?\?\}", segment)
            separator = "/" if index else ""
            if optional:
                regex += f"(?:{separator}(?P<{optional.group(1)}>[^/]+))?"
                parameters += 1
                continue
            part = ""
            position = 0
            for match in _PARAM.finditer(segment):
                part += re.escape(segment[position : match.start()])
                literal += match.start() - position
                body = match.group(1)
                catch_all = body.startswith("*")
                name, _, constraint = body.lstrip("*").rstrip("?").partition(":")
                pattern = ".*" if catch_all else _CONSTRAINTS.get(constraint.split("(")[0].lower(), r"[^/]+")
                part += f"(?P<{name}>{pattern})"
                parameters += 100 if catch_all else 1
                position = match.end()
            part += re.escape(segment[position:])
            literal += len(segment) - position
            regex += separator + part
        return re.compile(f"^{regex}/?$", re.IGNORECASE), parameters, literal

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        if found is None:
            return None
        return {k: unquote(v) for k, v in found.groupdict().items() if v is not None}


class HttpFrontend:
    def __init__(
        self,
        specs: list[FunctionSpec],
        runtime: Runtime,
        invoker: Invoker,
        admin: Admin,
        *,
        port: int,
        bind: str = "127.0.0.1",
        require_keys: bool = False,
    ):
        self.runtime = runtime
        self.invoker = invoker
        self.admin = admin
        self.require_keys = require_keys
        self.routes = [Route(spec) for spec in specs]
        self.prefix = runtime.config.route_prefix.strip("/")
        frontend = self

        class Handler(_Handler):
            pass

        Handler.frontend = frontend
        self.server = ThreadingHTTPServer((bind, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- dispatch --------------------------------------------------------------------------------

    def handle(self, request: _Handler) -> None:
        split = urlsplit(request.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body = request.read_body()
        lowered = path.rstrip("/").lower()
        if lowered == "/runtime/webhooks/blobs":
            return self._blob_webhook(request, query, body)
        if lowered.startswith("/admin/functions/"):
            return self._admin_invoke(request, path.rstrip("/").split("/")[-1], body)
        if lowered == "/admin/host/status":
            return request.reply(200, json.dumps({"state": "Running"}).encode(), "application/json")
        if lowered == "":
            return request.reply(200, b"devhost: the Functions host is running.\n", "text/plain")
        relative = self._strip_prefix(path)
        if relative is None:
            return request.reply(404, b"", "text/plain")
        candidates = [(route, params) for route in self.routes if (params := route.match(relative)) is not None]
        if not candidates:
            return request.reply(404, b"", "text/plain")
        method = request.command.upper()
        allowed = [(r, p) for r, p in candidates if method in r.methods]
        if not allowed:
            methods = sorted({m for r, _ in candidates for m in r.methods})
            return request.reply(405, b"", "text/plain", {"Allow": ", ".join(methods)})
        route, params = min(allowed, key=lambda rp: (rp[0].parameters, -rp[0].literal_length))
        if not self._authorized(route, request, query):
            return request.reply(401, b"", "text/plain")
        self._invoke_http(request, route, params, query, body)

    def _strip_prefix(self, path: str) -> str | None:
        path = path.lstrip("/")
        if not self.prefix:
            return path
        head, _, rest = path.partition("/")
        if head.lower() != self.prefix.lower():
            return None
        return rest

    def _authorized(self, route: Route, request: _Handler, query: dict[str, str]) -> bool:
        if not self.require_keys or route.auth_level == "anonymous":
            return True
        given = request.headers.get("x-functions-key") or query.get("code")
        master = self.runtime.env.get("DEVHOST_MASTER_KEY")
        valid = {master} if route.auth_level == "admin" else {master, self.runtime.env.get("DEVHOST_FUNCTION_KEY")}
        valid.discard(None)
        valid.discard("")
        if not valid:
            log.warning(
                "Request to '%s' refused: --require-keys is on but DEVHOST_FUNCTION_KEY/DEVHOST_MASTER_KEY is not set.",
                route.spec.name,
            )
        return bool(given) and given in valid

    def _invoke_http(self, request, route: Route, params, query, body: bytes) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        url = f"http://{request.headers.get('Host') or f'127.0.0.1:{self.port}'}{request.path}"
        http_request = func.HttpRequest(
            request.command.upper(), url, headers=headers, params=query, route_params=params, body=body
        )
        data: dict[str, Any] = {}
        try:  # binding data only: a body nested too deep for the parser is the function's to refuse
            payload = json.loads(body) if body else None
            if isinstance(payload, dict):
                data.update(payload)
        except (ValueError, RecursionError):
            pass
        data.update({"Query": query, "Headers": headers, **query, **params})
        detail = f"http {request.command.upper()} {urlsplit(request.path).path}"
        result = self.invoker.invoke(route.spec, lambda annotation: http_request, data, detail)
        if not result.ok:
            return request.reply(500, b"", "text/plain")
        http_out = next((b["name"] for b in route.spec.outputs if b["type"] == "http"), None)
        response = result.outputs.get(http_out) if http_out else None
        self._send_response(request, response)

    @staticmethod
    def _send_response(request, response: Any) -> None:
        if response is None:
            return request.reply(204, b"", None)
        if isinstance(response, func.HttpResponse):
            headers = dict(response.headers.items()) if response.headers else {}
            content_type = headers.pop("Content-Type", None) or headers.pop("content-type", None)
            if content_type is None and response.mimetype:
                content_type = response.mimetype + (f"; charset={response.charset}" if response.charset else "")
            return request.reply(response.status_code, response.get_body() or b"", content_type, headers)
        if isinstance(response, (dict, list)):
            return request.reply(200, json.dumps(response).encode(), "application/json")
        if isinstance(response, str):
            return request.reply(200, response.encode(), "text/plain; charset=utf-8")
        if isinstance(response, (bytes, bytearray)):
            return request.reply(200, bytes(response), "application/octet-stream")
        return request.reply(200, str(response).encode(), "text/plain; charset=utf-8")

    # -- EventGrid blob webhook ------------------------------------------------------------------

    def _blob_webhook(self, request, query: dict[str, str], body: bytes) -> None:
        if request.command.upper() != "POST":
            return request.reply(405, b"", "text/plain", {"Allow": "POST"})
        function_name = query.get("functionName", "")
        name = function_name[len("Host.Functions."):] if function_name.startswith("Host.Functions.") else function_name
        listener = self.admin.blob_listener(name)
        if listener is None:
            return request.reply(404, json.dumps({"error": f"no blob trigger function named {function_name!r}"}).encode(), "application/json")
        try:
            events = json.loads(body or b"null")
        except ValueError:
            return request.reply(400, b"invalid JSON", "text/plain")
        if isinstance(events, dict):
            events = [events]
        if not isinstance(events, list) or not events:
            return request.reply(400, b"expected an array of EventGrid events", "text/plain")
        for event in events:
            if event.get("eventType") == "Microsoft.EventGrid.SubscriptionValidationEvent":
                code = (event.get("data") or {}).get("validationCode")
                log.info("EventGrid subscription validated for '%s'.", name)
                return request.reply(200, json.dumps({"validationResponse": code}).encode(), "application/json")
        accepted = 0
        for event in events:
            if event.get("eventType") != "Microsoft.Storage.BlobCreated":
                continue
            location = blob_location(event)
            if location is None:
                log.warning("EventGrid event without a blob subject or url ignored: %s", event.get("id"))
                continue
            if listener.accept_event(*location):
                accepted += 1
            else:
                log.info("EventGrid event for '%s/%s' does not match '%s'; ignored.", *location, name)
        return request.reply(202, b"", None)

    # -- admin: run a non-HTTP function once -------------------------------------------------------

    def _admin_invoke(self, request, name: str, body: bytes) -> None:
        if request.command.upper() != "POST":
            return request.reply(405, b"", "text/plain", {"Allow": "POST"})
        if self.require_keys:
            given = request.headers.get("x-functions-key") or ""
            if not given or given != self.runtime.env.get("DEVHOST_MASTER_KEY"):
                return request.reply(401, b"", "text/plain")
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return request.reply(400, b"invalid JSON", "text/plain")
        text = str((payload or {}).get("input") or "")
        if not self.admin.run_once(name, text):
            return request.reply(404, b"", "text/plain")
        return request.reply(202, b"", None)


def blob_location(event: dict[str, Any]) -> tuple[str, str] | None:
    """(container, blob name) from an EventGrid BlobCreated event's subject or data.url."""
    subject = event.get("subject") or ""
    found = re.match(r"^/blobServices/default/containers/([^/]+)/blobs/(.+)$", subject)
    if found:
        return found.group(1), found.group(2)
    url = (event.get("data") or {}).get("url")
    if not url:
        return None
    split = urlsplit(url)
    parts = [unquote(p) for p in split.path.lstrip("/").split("/")]
    hostname = split.hostname or ""
    if not hostname.endswith(".blob.core.windows.net") and len(parts) > 2:
        parts = parts[1:]  # path-style (Azurite): /<account>/<container>/<blob>
    if len(parts) < 2:
        return None
    return parts[0], "/".join(parts[1:])


class _Handler(BaseHTTPRequestHandler):
    frontend: HttpFrontend
    protocol_version = "HTTP/1.1"
    server_version = "devhost"
    # Headers and body go out as separate writes; with Nagle on, a keep-alive client waits ~40 ms
    # for the delayed ACK before the body arrives.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # the invocation line is the access log
        log.debug("http: " + format, *args)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def reply(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _dispatch(self) -> None:
        try:
            self.frontend.handle(self)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            log.exception("devhost: error handling %s %s", self.command, self.path)
            try:
                self.reply(500, b"", None)
            except Exception:
                pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _dispatch

    def __getattr__(self, name: str) -> Any:
        """Any other method (QUERY, PROPFIND, ...) goes to the routes too, so it answers 405 with Allow
        (or 404) as the host does, instead of http.server's 501 HTML page."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

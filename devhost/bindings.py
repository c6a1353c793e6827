"""Input and output bindings: `Out` values, blob inputs, and writing queue/blob outputs.

Outputs are written only after the function returned without an exception, in binding order:
- queue: str, bytes, dict/list of those (a list sends one message each), or func.QueueMessage;
  encoded like the host (base64 unless host.json says messageEncoding "none");
- blob: str (UTF-8), bytes, or a file-like object;
- http: the HttpResponse (handled by devhost.http).
The name `$return` binds the function's return value to that output.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError

from devhost.errors import BindingError
from devhost.expressions import fill_template

if TYPE_CHECKING:
    from devhost.metadata import FunctionSpec
    from devhost.runtime import Runtime


class Out(func.Out):
    """What a function receives for each output binding: set() a value, the host writes it after."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def annotation_kind(annotation: Any) -> str | None:
    """'str' or 'bytes' when a parameter asks for plain text or bytes (also as a string annotation)."""
    if annotation in (str, "str"):
        return "str"
    if annotation in (bytes, "bytes"):
        return "bytes"
    return None


def encode_message(body: str | bytes, encoding: str) -> str:
    """Queue message text as the host writes it: base64 of the UTF-8 bytes, or the text itself."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8")


def decode_message(content: str | None, encoding: str) -> bytes:
    """A message's bytes; with base64 encoding, text that is not base64 is taken as is."""
    content = content or ""
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except ValueError:
            pass
    return content.encode("utf-8")


def split_blob_path(path: str, where: str) -> tuple[str, str]:
    container, _, name = path.strip().lstrip("/").partition("/")
    if not container or not name:
        raise BindingError(f"{where}: blob path {path!r} must be 'container/blob-name'.")
    return container, name


def read_input(runtime: Runtime, spec: FunctionSpec, binding: dict[str, Any], data: dict[str, Any]) -> Any:
    """A blob input binding's value (None when the blob does not exist)."""
    if binding["type"] != "blob":
        raise BindingError(
            f"Function '{spec.name}': input binding type '{binding['type']}' is not supported by devhost."
        )
    where = f"Function '{spec.name}' binding '{binding['name']}'"
    container, name = split_blob_path(fill_template(binding["path"], data, where), where)
    client = runtime.connections.container(binding.get("connection"), container).get_blob_client(name)
    try:
        downloader = client.download_blob()
    except ResourceNotFoundError:
        return None
    content = downloader.readall()
    kind = annotation_kind(spec.annotation(binding["name"]))
    if kind == "bytes":
        return content
    if kind == "str" or binding.get("dataType") == "string":
        return content.decode("utf-8")
    from azure.functions.blob import InputStream

    return InputStream(
        data=content, name=f"{container}/{name}", uri=client.url, length=len(content),
        blob_properties={"ETag": downloader.properties.etag}, metadata=dict(downloader.properties.metadata or {}),
    )


def write_outputs(runtime: Runtime, spec: FunctionSpec, values: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """Write every output binding's value; returns a short description of each write for the log."""
    written: list[str] = []
    for binding in spec.outputs:
        kind = binding["type"]
        if kind == "http":
            continue
        value = values.get(binding["name"])
        if value is None:
            continue
        where = f"Function '{spec.name}' output '{binding['name']}'"
        if kind == "queue":
            written.append(_write_queue(runtime, binding, value, where))
        elif kind == "blob":
            written.append(_write_blob(runtime, binding, value, data, where))
        else:
            raise BindingError(f"{where}: output type '{kind}' is not supported by devhost.")
    return written


def _messages(value: Any) -> list[str | bytes]:
    items = value if isinstance(value, (list, tuple)) else [value]
    messages: list[str | bytes] = []
    for item in items:
        if isinstance(item, func.QueueMessage):
            item = item.get_body()
        if isinstance(item, (dict, list)):
            item = json.dumps(item)
        if isinstance(item, bytearray):
            item = bytes(item)
        if not isinstance(item, (str, bytes)):
            raise BindingError(f"queue output value must be str, bytes or a list of them, got {type(item).__name__}")
        messages.append(item)
    return messages


def _write_queue(runtime: Runtime, binding: dict[str, Any], value: Any, where: str) -> str:
    queue_name = binding.get("queueName") or ""
    if not queue_name:
        raise BindingError(f"{where}: queue output has no queueName.")
    connection = binding.get("connection")
    client = runtime.connections.queue(connection, queue_name, create=True)
    messages = _messages(value)
    for message in messages:
        client.send_message(encode_message(message, runtime.config.message_encoding))
    runtime.queue_writes.notify(connection, queue_name)
    return f"queue {queue_name} +{len(messages)}"


def _write_blob(runtime: Runtime, binding: dict[str, Any], value: Any, data: dict[str, Any], where: str) -> str:
    container, name = split_blob_path(fill_template(binding.get("path", ""), data, where), where)
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif hasattr(value, "read"):
        value = value.read()
    if not isinstance(value, (bytes, bytearray)):
        raise BindingError(f"{where}: blob output value must be str or bytes, got {type(value).__name__}")
    client = runtime.connections.container(binding.get("connection"), container, create=True)
    client.get_blob_client(name).upload_blob(bytes(value), overwrite=True)
    return f"blob {container}/{name}"

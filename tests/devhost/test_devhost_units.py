"""Small pure parts of the runner: binding expressions, routes, host.json, settings files, and
the module boundaries (no import from the app's `shared` core, no import cycle inside devhost)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from devhost import BindingError, HostConfig, load_local_settings
from devhost.bindings import decode_message, encode_message
from devhost.connections import Connections
from devhost.expressions import BlobPath, fill_template, resolve_settings
from devhost.http import blob_location


def test_blob_path_patterns():
    path = BlobPath.parse("datalake/incoming/{name}", "t")
    assert (path.container, path.prefix) == ("datalake", "incoming/")
    assert path.match("incoming/2024/01/data.csv") == {"name": "2024/01/data.csv"}
    assert path.match("labeled/data.csv") is None
    parts = BlobPath.parse("c/in/{stem}.{ext}", "t")
    assert parts.match("in/report.v2.csv") == {"stem": "report", "ext": "v2.csv"}
    assert BlobPath.parse("c", "t").match("anything/at/all") == {}
    with pytest.raises(BindingError):
        BlobPath.parse("{container}/x", "t")


def test_settings_and_templates():
    assert resolve_settings("%A%/x/%B%", {"A": "1", "B": "2"}, "t") == "1/x/2"
    with pytest.raises(BindingError, match="'MISSING'"):
        resolve_settings("%MISSING%", {}, "Function 'f'")
    data = {"name": "a.csv", "payload": {"Run": {"Id": 7}}}
    assert fill_template("out/{name}/{payload.run.id}", data, "t") == "out/a.csv/7"
    assert len(fill_template("{rand-guid}", {}, "t")) == 36
    with pytest.raises(BindingError, match="no value for {nope}"):
        fill_template("x/{nope}", data, "t")


def test_message_encoding_round_trip():
    assert encode_message("héllo", "base64") == "aMOpbGxv"
    assert decode_message("aMOpbGxv", "base64") == "héllo".encode()
    assert decode_message("not base64!", "base64") == b"not base64!"
    assert encode_message(b"raw", "none") == "raw"


def test_host_json_parsing(tmp_path):
    config = HostConfig.from_json(json.loads(open("host.json").read()))
    assert (config.route_prefix, config.batch_size, config.new_batch_threshold) == ("api", 8, 4)
    assert (config.max_polling_interval, config.visibility_timeout, config.max_dequeue_count) == (2.0, 30.0, 5)
    assert config.poison_blob_threshold == 5
    assert HostConfig.load(tmp_path / "absent.json") == HostConfig()


def test_local_settings_do_not_override(tmp_path):
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"A": "file", "B": "file"}}))
    assert load_local_settings(path, {"A": "env"}) == {"B": "file"}
    assert load_local_settings(tmp_path / "none.json", {}) == {}


def test_development_storage_and_prefixed_connection_names():
    connections = Connections({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "AzureWebJobsOther": "UseDevelopmentStorage=true"})
    assert connections.blob_service(None).url.startswith("http://127.0.0.1:10000/devstoreaccount1")
    assert connections.queue_service("Other").url.startswith("http://127.0.0.1:10001/devstoreaccount1")
    assert connections.account_key(None) == connections.account_key("Other")
    with pytest.raises(BindingError, match="Connection 'Nope': app setting 'Nope' \\(nor 'AzureWebJobsNope'\\) is not set"):
        connections.blob_service("Nope")
    with pytest.raises(BindingError, match="app setting 'Bad' is not a storage connection string"):
        Connections({"Bad": "not a connection string"}).blob_service("Bad")


def test_identity_based_connections():
    """`<Name>__accountName` or both service URIs: clients with DefaultAzureCredential (no request made)."""
    by_account = Connections({"Lake__accountName": "acct"})
    assert by_account.blob_service("Lake").url.startswith("https://acct.blob.core.windows.net")
    assert by_account.queue_service("Lake").url.startswith("https://acct.queue.core.windows.net")
    by_uri = Connections({"AzureWebJobsStorage__blobServiceUri": "https://b.example", "AzureWebJobsStorage__queueServiceUri": "https://q.example"})
    assert by_uri.queue_service(None).url.startswith("https://q.example")
    with pytest.raises(BindingError, match="needs Half__queueServiceUri"):
        Connections({"Half__blobServiceUri": "https://b.example"}).blob_service("Half")


def test_eventgrid_blob_location():
    assert blob_location({"subject": "/blobServices/default/containers/c/blobs/a/b.txt"}) == ("c", "a/b.txt")
    assert blob_location({"data": {"url": "https://acct.blob.core.windows.net/c/a/b%20c.txt"}}) == ("c", "a/b c.txt")
    assert blob_location({"data": {"url": "http://127.0.0.1:10000/devstoreaccount1/c/x.txt"}}) == ("c", "x.txt")


DEVHOST = Path(__file__).resolve().parents[2] / "devhost"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (functions and `if TYPE_CHECKING:` included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_devhost_imports_nothing_of_the_app_core():
    offenders = {
        path.name: sorted(m for m in _imports(path) if m.split(".")[0] in ("shared", "functions", "function_app"))
        for path in DEVHOST.glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_devhost_modules_have_no_import_cycle():
    modules = {f"devhost.{path.stem}": path for path in DEVHOST.glob("*.py") if path.stem != "__init__"}
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(name):] + [name]))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, trail + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert "devhost.host" not in set().union(*(graph[m] for m in graph if m not in ("devhost.host", "devhost.__main__")))

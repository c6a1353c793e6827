"""Small pure parts of the runner: binding expressions, routes, host.json, settings files."""

from __future__ import annotations

import json

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
    assert (config.poison_blob_threshold, config.function_timeout) == (5, 600.0)
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
    with pytest.raises(BindingError, match="Connection 'Nope'"):
        connections.blob_service("Nope")


def test_eventgrid_blob_location():
    assert blob_location({"subject": "/blobServices/default/containers/c/blobs/a/b.txt"}) == ("c", "a/b.txt")
    assert blob_location({"data": {"url": "https://acct.blob.core.windows.net/c/a/b%20c.txt"}}) == ("c", "a/b c.txt")
    assert blob_location({"data": {"url": "http://127.0.0.1:10000/devstoreaccount1/c/x.txt"}}) == ("c", "x.txt")

"""Data-lake uploads through the app's blob functions, fired by hand on MemoryStorage: labeled data
to a retrain, incoming data to a drift report (and a retrain when it drifts), bad files to quarantine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import azure.functions as func
import pytest

from shared.chain import runs
from shared.events import lake, quarantine
from shared.platform import names
from tests.helpers.event_data import FEATURES, TARGET, csv_bytes, frame, parquet_bytes
from tests.helpers.events import invocation, messages_for, queued, runs_of

pytestmark = pytest.mark.usefixtures("env")


def upload(storage, functions, name: str, data: bytes, *, function: str | None = None) -> str:
    """Write the blob, then fire the blob trigger as the host would (name and properties)."""
    etag = storage.put_bytes(names.DATALAKE, name, data)
    fire(functions, name, etag, data, function=function)
    return etag


def fire(functions, name: str, etag: str, data: bytes, *, function: str | None = None,
         traceparent: str | None = None) -> None:
    function = function or ("on_labeled" if name.startswith("labeled/") else "on_incoming")
    blob = func.blob.InputStream(data=data, name=f"{names.DATALAKE}/{name}", length=len(data),
                                 uri=f"http://127.0.0.1/{names.DATALAKE}/{name}",
                                 blob_properties={"ETag": etag, "ContentLength": len(data)})
    functions[function](blob, invocation(traceparent))



def queued_runs(storage) -> list[dict]:
    return queued(storage, names.FETCH_QUEUE)


def receipt(storage, name: str, etag: str) -> dict:
    return lake.read_receipt(storage, name, etag)


def reason_of(storage, name: str) -> dict:
    return storage.read_json(names.DATALAKE, quarantine.reason_name(name)).value


def test_labeled_csv_starts_a_retrain(storage, functions, unique, model_name):
    name = f"labeled/{unique}/batch.csv"
    etag = upload(storage, functions, name, csv_bytes(frame(50, seed=3)))
    outcome = receipt(storage, name, etag)
    assert outcome["action"] == "retrain" and "50 rows" in outcome["detail"]
    run = runs.get_run(storage, outcome["run_id"])
    assert run["plan"] == "data" and run["model"] == model_name
    assert run["trigger"] == {"kind": "upload", "blob": name, "etag": etag.strip('"')}
    assert len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1


def test_an_uploads_run_continues_the_trace_the_host_gave_its_invocation(storage, functions, unique):
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    name = f"labeled/{unique}/traced.csv"
    data = csv_bytes(frame(50, seed=3))
    fire(functions, name, storage.put_bytes(names.DATALAKE, name, data), data, traceparent=caller)
    run = runs.get_run(storage, receipt(storage, name, storage.etag(names.DATALAKE, name))["run_id"])
    assert run["trace"].split("-")[1] == caller.split("-")[1]  # tracing off: the host's trace goes on


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet", "jsonl"])
def test_labeled_formats(storage, functions, unique, fmt):
    table = frame(30, seed=4)
    data = {"csv.gz": lambda: csv_bytes(table, gz=True), "parquet": lambda: parquet_bytes(table),
            "jsonl": lambda: table.to_json(orient="records", lines=True).encode()}[fmt]()
    name = f"labeled/{unique}/batch.{fmt}"
    etag = upload(storage, functions, name, data)
    assert receipt(storage, name, etag)["action"] == "retrain"


def test_labeled_files_in_one_window_share_one_delayed_retrain(storage, functions, env, unique, model_name):
    env(DRIFTLINE_RETRAIN_COALESCE_SECONDS="86400")  # one window for the whole test
    names_ = [f"labeled/{unique}/part-{i}.csv" for i in range(3)]
    etags = [upload(storage, functions, name, csv_bytes(frame(20, seed=i))) for i, name in enumerate(names_)]
    outcomes = [receipt(storage, name, etag) for name, etag in zip(names_, etags)]
    assert [o["action"] for o in outcomes] == ["retrain", "joined", "joined"]
    assert len({o["run_id"] for o in outcomes}) == 1
    run = runs.get_run(storage, outcomes[0]["run_id"])
    assert [e["detail"] for e in run["events"][1:]] == [
        f"labeled upload {n} (20 rows) joins this retrain" for n in names_[1:]]
    # The retrain message is delayed to the end of the window: not visible yet.
    assert messages_for(storage, names.FETCH_QUEUE, run["run_id"]) == []
    assert len(runs_of(storage, model_name)) == 1


def test_an_upload_handled_twice_past_its_receipt_check_joins_once(storage, functions, env, unique, model_name):
    """Two workers given one blob at once both find no receipt yet: the upload joins its run once."""
    env(DRIFTLINE_RETRAIN_COALESCE_SECONDS="86400")
    first = f"labeled/{unique}/first.csv"
    upload(storage, functions, first, csv_bytes(frame(20, seed=1)))
    name = f"labeled/{unique}/twice.csv"
    etag = upload(storage, functions, name, csv_bytes(frame(20, seed=2)))
    storage.delete(names.HOOKS, lake.receipt_name(name, etag.strip('"')))  # as the other worker saw it
    fire(functions, name, etag, b"")
    run = runs.get_run(storage, receipt(storage, name, etag)["run_id"])
    joins = [e["detail"] for e in run["events"] if "joins this retrain" in e["detail"]]
    assert joins == [f"labeled upload {name} (20 rows) joins this retrain"]
    assert len(runs_of(storage, model_name)) == 1


def test_labeled_without_the_target_is_quarantined_and_the_original_kept(storage, functions, unique):
    name = f"labeled/{unique}/no-target.csv"
    data = csv_bytes(frame(10, seed=5).drop(columns=[TARGET]))
    etag = upload(storage, functions, name, data)
    assert receipt(storage, name, etag)["action"] == "quarantined"
    reason = reason_of(storage, name)
    assert "missing required column(s) label" in reason["reason"]
    assert reason["source"] == f"datalake/{name}" and reason["etag"] == etag.strip('"')
    assert storage.get_bytes(names.DATALAKE, quarantine.quarantine_name(name))[0] == data
    assert storage.get_bytes(names.DATALAKE, name)[0] == data
    assert queued_runs(storage) == []


def test_labeled_missing_a_production_feature_is_quarantined(storage, functions, unique, production):
    name = f"labeled/{unique}/old-schema.csv"
    etag = upload(storage, functions, name, csv_bytes(frame(10, seed=6).drop(columns=["x3"])))
    assert receipt(storage, name, etag)["action"] == "quarantined"
    assert "x3" in reason_of(storage, name)["reason"]


@pytest.mark.parametrize(
    ("suffix", "data", "why"),
    [
        ("csv", b"", "empty"),
        ("parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
        ("jsonl", b"[1, 2, 3]\n", "JSON array"),
        ("txt", b"a,b\n1,2\n", "cannot tell the format"),
    ],
)
def test_unreadable_labeled_files_are_quarantined(storage, functions, unique, suffix, data, why):
    name = f"labeled/{unique}/bad.{suffix}"
    upload(storage, functions, name, data)
    assert why in reason_of(storage, name)["reason"]
    assert storage.get_bytes(names.DATALAKE, name)[0] == data


def test_duplicate_delivery_does_nothing_the_second_time(storage, functions, unique, model_name):
    name = f"labeled/{unique}/once.csv"
    data = csv_bytes(frame(20, seed=7))
    etag = upload(storage, functions, name, data)
    fire(functions, name, etag, data)
    assert len(runs_of(storage, model_name)) == 1
    assert len(queued_runs(storage)) == 1
    # The same bytes uploaded again (a new ETag) are the same data: counted once, nothing starts.
    again = upload(storage, functions, name, data)
    assert receipt(storage, name, again)["action"] == "same-content"
    assert len(runs_of(storage, model_name)) == 1
    # New content under the same name is new data.
    upload(storage, functions, name, csv_bytes(frame(20, seed=8)))
    assert len(runs_of(storage, model_name)) == 2


def test_incoming_without_a_production_model_is_only_noted(storage, functions, unique, model_name):
    name = f"incoming/{unique}/batch.csv"
    etag = upload(storage, functions, name, csv_bytes(frame(200, seed=8)[FEATURES]))
    assert receipt(storage, name, etag)["detail"] == "no production model; drift check skipped"
    assert list(storage.list(names.REPORTS, f"{model_name}/")) == []


def test_clean_incoming_gets_a_report_and_no_run(storage, functions, unique, model_name, production):
    name = f"incoming/{unique}/clean.csv"
    etag = upload(storage, functions, name, csv_bytes(frame(1500, seed=9)[FEATURES]))
    outcome = receipt(storage, name, etag)
    assert outcome["action"] == "no-drift" and outcome["run_id"] is None
    report = json.loads(storage.get_bytes(names.REPORTS, outcome["report"] + ".json")[0])
    assert report["dataset_drift"] is False
    assert storage.get_bytes(names.REPORTS, outcome["report"] + ".html")[0].startswith(b"<!")
    assert outcome["report"].startswith(f"{model_name}/") and outcome["report"].endswith(f"incoming_{unique}_clean.csv")
    assert runs_of(storage, model_name) == []


def test_drifted_incoming_starts_a_retrain_with_the_report(storage, functions, env, unique, model_name, production):
    env(DRIFTLINE_RETRAIN_MIN_NEW_ROWS="100")  # 60 new labeled rows wait for more...
    labeled = f"labeled/{unique}/some.csv"
    assert receipt(storage, labeled, upload(storage, functions, labeled, csv_bytes(frame(60, seed=4))))["action"] == "accepted"
    env(DRIFTLINE_RETRAIN_MIN_NEW_ROWS="50")  # ...which are enough once drift asks
    name = f"incoming/{unique}/shifted.parquet"
    etag = upload(storage, functions, name, parquet_bytes(frame(1500, seed=10, shift=2.0)[FEATURES]))
    outcome = receipt(storage, name, etag)
    assert outcome["action"] == "drift"
    run = runs.get_run(storage, outcome["run_id"])
    assert run["plan"] == "data"
    assert run["trigger"] == {"kind": "drift", "blob": name, "etag": etag.strip('"')}
    assert f"reports/{outcome['report']}.html" in run["reason"]
    [message] = messages_for(storage, names.FETCH_QUEUE, run["run_id"])
    assert message["payload"]["report"] == f"reports/{outcome['report']}.json"
    report = json.loads(storage.get_bytes(names.REPORTS, outcome["report"] + ".json")[0])
    assert report["dataset_drift"] is True
    fire(functions, name, etag, b"")  # redelivered: nothing new
    assert len(runs_of(storage, model_name)) == 1


def test_incoming_missing_feature_columns_is_quarantined(storage, functions, unique, model_name, production):
    name = f"incoming/{unique}/partial.csv"
    etag = upload(storage, functions, name, csv_bytes(frame(100, seed=11)[["x1"]]))
    assert receipt(storage, name, etag)["action"] == "quarantined"
    assert "x2" in reason_of(storage, name)["reason"] and "breaks the schema" in reason_of(storage, name)["reason"]
    assert runs_of(storage, model_name) == []


def test_malformed_incoming_is_quarantined(storage, functions, unique, model_name, production):
    name = f"incoming/{unique}/garbage.csv.gz"
    upload(storage, functions, name, b"\x1f\x8b not really gzip")
    assert "unreadable" in reason_of(storage, name)["reason"]
    assert runs_of(storage, model_name) == []


def ragged_csv() -> bytes:
    good = csv_bytes(frame(50, seed=12)[FEATURES]).decode()
    header, first, *rest = good.splitlines()
    return "\n".join([header, first, "1.0,2.0", *rest, ",".join(["3"] * (len(FEATURES) + 3))]).encode()


def test_incoming_with_ragged_rows_is_quarantined_with_the_count(storage, functions, unique, model_name, production):
    name = f"incoming/{unique}/ragged.csv"
    data = ragged_csv()
    etag = upload(storage, functions, name, data)
    assert receipt(storage, name, etag)["action"] == "quarantined"
    assert "2 malformed rows" in reason_of(storage, name)["reason"]
    assert storage.get_bytes(names.DATALAKE, name)[0] == data  # the original is untouched
    assert runs_of(storage, model_name) == []


def test_labeled_with_ragged_rows_is_quarantined(storage, functions, unique, model_name):
    name = f"labeled/{unique}/ragged.csv"
    good = csv_bytes(frame(20, seed=13)).decode().splitlines()
    etag = upload(storage, functions, name, "\n".join([*good, "1,2"]).encode())
    assert receipt(storage, name, etag)["action"] == "quarantined"
    assert "1 malformed rows" in reason_of(storage, name)["reason"]
    assert runs_of(storage, model_name) == []


def test_blob_names_and_kinds():
    assert lake.blob_name("datalake/labeled/a/b.csv") == "labeled/a/b.csv"
    assert lake.kind_of("labeled/a.csv") == lake.LABELED and lake.kind_of("incoming/a.csv") == lake.INCOMING
    assert lake.kind_of("quarantine/labeled/a.csv") is None


def test_core_takes_the_trigger_path(storage, env, unique):
    from shared.platform import context

    name = f"labeled/{unique}/t.csv"
    storage.put_bytes(names.DATALAKE, name, csv_bytes(frame(5, seed=1)))
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    outcome = lake.handle_upload(context.storage(), context.settings(), f"datalake/{name}", now=now)
    assert outcome.action == "retrain"
    assert runs.get_run(storage, outcome.run_id)["trigger"]["blob"] == name


def test_coalescing_windows_follow_the_clock(storage, env, unique, model_name):
    from shared.platform import context

    env(DRIFTLINE_RETRAIN_COALESCE_SECONDS="60")
    start = datetime(2026, 6, 1, 12, 0, 5, tzinfo=timezone.utc)
    outcomes = []
    for i, offset in enumerate((0, 50, 61)):
        name = f"labeled/{unique}/w{i}.csv"
        storage.put_bytes(names.DATALAKE, name, csv_bytes(frame(5, seed=i)))
        outcomes.append(lake.handle_upload(context.storage(), context.settings(), f"datalake/{name}",
                                           now=start + timedelta(seconds=offset)))
    assert [o.action for o in outcomes] == ["retrain", "joined", "retrain"]
    assert outcomes[0].run_id == outcomes[1].run_id != outcomes[2].run_id
    assert "retrain starts in 55 s" in outcomes[0].detail and "retrain starts in 54 s" in outcomes[2].detail

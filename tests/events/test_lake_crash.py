"""A crash at any point between a labeled upload's run and its receipt, then a redelivery (even in a
later coalescing window), never makes a second run for that upload; a crash between the run record
and its first message is mended by that redelivery, which sends the message again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.chain import runs
from shared.events import lake
from shared.platform import context, names
from tests.helpers.event_data import csv_bytes, frame
from tests.helpers.events import queued, runs_of

pytestmark = pytest.mark.usefixtures("env")


def test_a_crash_between_run_and_receipt_never_makes_a_second_run(storage, env, monkeypatch, unique, model_name):
    env(DRIFTLINE_RETRAIN_COALESCE_SECONDS="60")
    name = f"labeled/{unique}/crash.csv"
    etag = storage.put_bytes(names.DATALAKE, name, csv_bytes(frame(30, seed=4)))
    real_write = storage.write_json

    def crash_on_receipt(container, blob, value, **kwargs):
        if container == names.HOOKS and blob == lake.receipt_name(name, etag.strip('"')):
            raise SystemExit("killed before the receipt")
        return real_write(container, blob, value, **kwargs)

    monkeypatch.setattr(storage, "write_json", crash_on_receipt)
    first_time = datetime(2026, 12, 1, 10, 0, 5, tzinfo=timezone.utc)
    with pytest.raises(SystemExit):
        lake.handle_upload(storage, context.settings(), f"datalake/{name}", etag, now=first_time)
    monkeypatch.setattr(storage, "write_json", real_write)
    later = first_time + timedelta(minutes=10)  # the host redelivers in another coalescing window
    outcome = lake.handle_upload(storage, context.settings(), f"datalake/{name}", etag, now=later)
    assert outcome.action == "joined" and len(runs_of(storage, model_name)) == 1


def killed_before_the_first_message(storage, monkeypatch, name: str, etag: str, now: datetime) -> None:
    real_send = storage.send_text

    def crash_on_fetch(queue, text, **kwargs):
        if queue == names.FETCH_QUEUE:
            raise SystemExit("killed after the run record, before its first message")
        return real_send(queue, text, **kwargs)

    monkeypatch.setattr(storage, "send_text", crash_on_fetch)
    with pytest.raises(SystemExit):
        lake.handle_upload(storage, context.settings(), f"datalake/{name}", etag, now=now)
    monkeypatch.setattr(storage, "send_text", real_send)


@pytest.mark.parametrize("window", ["0", "60"])
def test_a_crash_between_the_run_and_its_first_message_is_mended_by_the_redelivery(
        storage, env, monkeypatch, unique, model_name, window):
    env(DRIFTLINE_RETRAIN_COALESCE_SECONDS=window)
    name = f"labeled/{unique}/lost-message.csv"
    etag = storage.put_bytes(names.DATALAKE, name, csv_bytes(frame(30, seed=5)))
    now = datetime(2026, 12, 1, 10, 0, 5, tzinfo=timezone.utc)
    killed_before_the_first_message(storage, monkeypatch, name, etag, now)
    [run] = runs_of(storage, model_name)
    assert run["status"] == "running" and not run["steps"] and not queued(storage, names.FETCH_QUEUE)
    outcome = lake.handle_upload(storage, context.settings(), f"datalake/{name}", etag, now=now)
    assert outcome.run_id == run["run_id"] and "first step's message was sent again" in outcome.detail
    assert storage.approximate_message_count(names.FETCH_QUEUE) == 1
    visible = queued(storage, names.FETCH_QUEUE)  # with a window, delayed to its end like the lost one
    assert [m["run_id"] for m in visible] == ([run["run_id"]] if window == "0" else [])
    assert "sent again" in runs.get_run(storage, run["run_id"])["events"][-1]["detail"]


def test_the_redelivery_sends_nothing_once_the_first_step_has_begun(storage, env, monkeypatch, unique, model_name):
    name = f"labeled/{unique}/begun.csv"
    etag = storage.put_bytes(names.DATALAKE, name, csv_bytes(frame(30, seed=6)))
    now = datetime(2026, 12, 1, 10, 0, 5, tzinfo=timezone.utc)
    killed_before_the_first_message(storage, monkeypatch, name, etag, now)
    [run] = runs_of(storage, model_name)
    runs.resend_step(storage, run["run_id"], "fetch", "the sweeper resent it")  # e.g. the sweeper came first
    storage.clear(names.FETCH_QUEUE)
    outcome = lake.handle_upload(storage, context.settings(), f"datalake/{name}", etag, now=now)
    assert outcome.action == "joined" and "sent again" not in outcome.detail
    assert queued(storage, names.FETCH_QUEUE) == []

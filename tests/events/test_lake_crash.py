"""A crash at any point between a labeled upload's run and its receipt, then a redelivery (even in a
later coalescing window), never makes a second run for that upload."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.events import lake
from shared.platform import context, names
from tests.helpers.event_data import csv_bytes, frame
from tests.helpers.events import runs_of

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

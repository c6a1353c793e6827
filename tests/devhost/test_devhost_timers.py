"""Timer triggers through the runner: schedule from a %Setting%, run_on_startup, disabled, past_due."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
import sample_app
from azure.storage.blob import BlobServiceClient

from devhost import BindingError


def _timer_messages(probe, names, function):
    return [json.loads(m) for m in probe.messages(names["SAMPLE_TIMER_QUEUE"]) if json.loads(m)["function"] == function]


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    return predicate()


def test_every_second_schedule_from_setting(make_host, names, probe):
    make_host(settings={"SAMPLE_TICK_SCHEDULE": "*/1 * * * * *"})
    assert _wait_for(lambda: len(_timer_messages(probe, names, "tick")) >= 3, timeout=8)
    ticks = _timer_messages(probe, names, "tick")
    assert all(t["past_due"] is False for t in ticks)
    assert _timer_messages(probe, names, "boot") == []  # schedule 'disabled'


def test_run_on_startup(make_host, names, probe):
    make_host(settings={"SAMPLE_BOOT_SCHEDULE": "0 0 0 1 1 *"})  # once a year, and at start
    assert _wait_for(lambda: len(_timer_messages(probe, names, "boot")) == 1, timeout=5)
    assert _timer_messages(probe, names, "boot") == [{"function": "boot", "past_due": False}]


def test_disabled_schedule_does_not_run(make_host, names, probe, caplog):
    with caplog.at_level(logging.INFO, logger="devhost"):
        make_host(settings={"SAMPLE_TICK_SCHEDULE": "", "SAMPLE_BOOT_SCHEDULE": "off"})
        time.sleep(1.5)
    assert probe.messages(names["SAMPLE_TIMER_QUEUE"]) == []
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Timer function 'tick' is disabled" in text and "Timer function 'boot' is disabled" in text


def test_missing_setting_is_a_clear_error(make_host, names):
    names.pop("SAMPLE_TICK_SCHEDULE")
    host = make_host(start=False)
    with pytest.raises(BindingError, match=r"tick.*SAMPLE_TICK_SCHEDULE"):
        host.start()


def test_invalid_schedule_is_a_clear_error(make_host):
    host = make_host(start=False, settings={"SAMPLE_TICK_SCHEDULE": "every minute"})
    with pytest.raises(BindingError, match=r"tick.*not a valid NCRONTAB"):
        host.start()


def test_past_due_when_an_occurrence_was_missed_while_stopped(make_host, names, probe, connection_string, unique):
    """Hourly schedule (monitored): the recorded next run is in the past, so it fires at start."""
    now = datetime.now(timezone.utc)
    status = {
        "Last": (now - timedelta(hours=2)).isoformat(),
        "Next": (now - timedelta(hours=1)).isoformat(),
        "LastUpdated": (now - timedelta(hours=2)).isoformat(),
    }
    hosts = BlobServiceClient.from_connection_string(connection_string).get_container_client("azure-webjobs-hosts")
    if not hosts.exists():
        hosts.create_container()
    status_blob = hosts.get_blob_client(f"timers/test-{unique}/Host.Functions.tick/status")
    status_blob.upload_blob(json.dumps(status), overwrite=True)

    make_host(settings={"SAMPLE_TICK_SCHEDULE": "0 0 * * * *"})
    assert _wait_for(lambda: len(_timer_messages(probe, names, "tick")) == 1, timeout=5)
    assert _timer_messages(probe, names, "tick") == [{"function": "tick", "past_due": True}]
    # the status now records the run and a future next occurrence
    assert _wait_for(lambda: datetime.fromisoformat(json.loads(status_blob.download_blob().readall())["Next"]) > now)


def test_late_run_is_past_due(make_host, names, probe, monkeypatch):
    """A run that starts later than the tolerance after its scheduled time is past due."""
    from devhost import timers

    original = timers.TimerListener._fire
    delays = iter([1.8])

    def slow_first_fire(self, schedule, scheduled, *, past_due, reason):
        original(self, schedule, scheduled, past_due=past_due, reason=reason)
        time.sleep(next(delays, 0))  # the first run overruns the next second's occurrence

    monkeypatch.setattr(timers.TimerListener, "_fire", slow_first_fire)
    make_host(settings={"SAMPLE_TICK_SCHEDULE": "*/1 * * * * *"}, timer_past_due_tolerance=0.5)
    assert _wait_for(lambda: len(sample_app.calls("tick")) >= 3, timeout=8)
    flags = [c["past_due"] for c in sample_app.calls("tick")]
    assert flags[0] is False and flags[1] is True and flags[2] is False


def test_admin_endpoint_runs_a_timer_once(make_host, names, probe):
    """`POST /admin/functions/<name>` runs a non-HTTP function on demand, like the host's admin API."""
    import requests

    host = make_host()  # tick's schedule is off: only the admin call runs it
    response = requests.post(f"{host.url}/admin/functions/tick", json={"input": ""}, timeout=10)
    assert response.status_code == 202
    assert _wait_for(lambda: len(_timer_messages(probe, names, "tick")) == 1, timeout=5)
    assert requests.post(f"{host.url}/admin/functions/nope", json={}, timeout=10).status_code == 404

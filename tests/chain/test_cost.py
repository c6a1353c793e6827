"""The cost estimate of a run and of the timers (pure), and the compute measured for it: the sandbox
counts its children's rusage on the open meter."""

from __future__ import annotations

import pytest

from shared.chain import cost
from shared.platform import usage
from shared.platform.settings import CostRates, load_settings
from shared.repo import sandbox

RATES = CostRates(instance_memory_mb=2048, gb_second_usd=0.00002, million_executions_usd=0.5, azureml_vm_hour_usd=2.0)


def test_a_run_costs_its_steps_gb_seconds_and_executions():
    run = {"steps_planned": ["fetch", "retrain", "register", "approve", "deploy"], "steps": {
        "fetch": {"attempts": 1, "usage": {"wall_s": 0.2}},  # billed at the minimum second
        "retrain": {"attempts": 2, "usage": {"wall_s": 30.0}, "outputs": {"compute": "local"}},
        "register": {"attempts": 1},  # ran before usage was recorded
        "approve": {"status": "skipped"},
        "deploy": {"attempts": 1, "usage": {"wall_s": 3.5}},
    }}
    priced = cost.run_cost(run, RATES)
    assert [s.step for s in priced.steps] == ["fetch", "retrain", "register", "deploy"]
    assert [s.billed_s for s in priced.steps] == [1.0, 31.0, 1.0, 3.5]
    assert priced.executions == 5 and priced.unmeasured == ("register",)
    assert priced.gb_seconds == pytest.approx(36.5 * 2)
    assert priced.total_usd == pytest.approx(36.5 * 2 * 0.00002 + 5 * 0.5 / 1e6)
    assert priced.azureml_usd == 0


def test_an_azure_ml_retrain_adds_its_duration_at_the_vm_rate():
    run = {"steps_planned": ["retrain"], "steps": {"retrain": {
        "attempts": 1, "duration_s": 1800.0, "outputs": {"compute": "azureml:driftline-abc"}}}}
    priced = cost.run_cost(run, RATES)
    assert priced.azureml_usd == pytest.approx(0.5 * 2.0)
    assert priced.total_usd == pytest.approx(1.0 + 2 * 0.00002 + 0.5 / 1e6)


@pytest.mark.parametrize(("schedule", "monthly"), [
    ("0 0 2 * * *", 365 / 12),  # daily
    ("0 0 3 * * 0", 52 / 12),  # Sundays of the reference year
    ("0 0 0 1 1 *", 1 / 12),  # yearly
    ("0 */5 * * * *", 365 * 288 / 12),  # frequent: counted to the cap, then extrapolated
])
def test_timer_executions_a_month_follow_the_schedule(schedule, monthly):
    assert cost.executions_per_month(schedule) == pytest.approx(monthly, rel=1e-3)


def test_the_timers_monthly_cost_uses_the_same_rates():
    timers = cost.timers_monthly({"timer_drift": "0 0 2 * * *"}, RATES)
    n = 365 / 12
    assert timers.usd_per_month == pytest.approx(n * (2 * 0.00002 + 0.5 / 1e6))


def test_rates_and_schedules_are_settings_checked_at_start():
    settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                              "DRIFTLINE_COST_INSTANCE_MEMORY_MB": "2048", "DRIFTLINE_SWEEP_SCHEDULE": "0 0 * * * *"})
    assert settings.cost.instance_memory_mb == 2048 and settings.timer_schedules["timer_sweep"] == "0 0 * * * *"
    with pytest.raises(Exception, match="DRIFTLINE_COST_INSTANCE_MEMORY_MB"):
        load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "DRIFTLINE_COST_INSTANCE_MEMORY_MB": "1000"})
    with pytest.raises(Exception, match="DRIFTLINE_DRIFT_SCHEDULE"):
        load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "DRIFTLINE_DRIFT_SCHEDULE": "*/5 * * * *"})


def test_the_sandbox_counts_its_child_on_the_open_meter(tmp_path):
    root = tmp_path / "snapshot"
    root.mkdir()
    (root / "burn.py").write_text("data = bytearray(64 * 1024 * 1024)\nsum(range(2_000_000))\n")
    with sandbox.scratch() as folder, usage.metered():
        result = sandbox.run_module("burn", [], root=root, folder=folder)
        measured = usage.current()
    assert result.exit_code == 0 and measured is not None
    assert measured.children == 1 and measured.child_cpu_s > 0
    assert measured.child_peak_bytes >= 64 * 1024 * 1024  # the child's own peak, not the worker's
    assert usage.current() is None  # the meter is closed


def test_a_timed_out_child_is_still_counted(tmp_path):
    root = tmp_path / "snapshot"
    root.mkdir()
    (root / "hang.py").write_text("import time\ntime.sleep(60)\n")
    with sandbox.scratch() as folder, usage.metered():
        result = sandbox.run_module("hang", [], root=root, folder=folder, limits=sandbox.Limits(timeout_s=0.5))
        measured = usage.current()
    assert result.timed_out and result.exit_code == -9 and measured is not None and measured.children == 1

"""What a run cost, estimated from its run record and the rates in `Settings.cost`; what the app's own
timers cost a month. Pure functions: no storage, no clock.

How a run is priced (Flex Consumption on-demand billing, see `shared.platform.settings.CostRates`):
- each queue step that ran is one execution per attempt; its billed seconds are the worker's measured
  wall seconds (`usage.wall_s` on the step, recorded by the step adapter), at least the plan's minimum
  billable second per execution. Earlier attempts that failed were not measured: each counts its
  execution at the minimum billable second;
- GB-seconds are billed seconds times the instance memory size (the plan bills the instance's memory,
  not what the process used), priced per GB-second, plus the price of the executions;
- a step trained on Azure ML (`outputs.compute` = `azureml:<job>`) adds its duration, from the step's
  start to the job completing it (queueing on the cluster included, so an upper bound), times the VM
  hourly rate;
- steps that did not run on a worker (approval, skipped steps) cost nothing; a step that ran before
  usage was recorded is listed as unmeasured and priced at the minimum billable second;
- the execution of the trigger that started the run (webhook, upload, timer) is not part of the run.

A timer's monthly cost is its executions in an average month (counted from its NCRONTAB schedule over a
reference year), each at the minimum billable second: the timers' work is short when it finds nothing
to do, and every timer fires even when its job is disabled (the job checks its own setting).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.platform.settings import CostRates

MIN_BILLABLE_S = 1.0  # Flex Consumption bills at least 1 second per execution
REFERENCE_YEAR = datetime(2025, 1, 1, tzinfo=timezone.utc)  # a non-leap year from a fixed start
MONTHS_PER_YEAR = 12
COUNT_CAP = 5000  # occurrences counted before a frequent schedule's yearly count is extrapolated


@dataclass(frozen=True)
class StepCost:
    step: str
    executions: int
    billed_s: float  # Functions seconds billed, minimum per execution included
    gb_seconds: float
    functions_usd: float
    azureml_hours: float = 0.0
    azureml_usd: float = 0.0
    measured: bool = True

    @property
    def total_usd(self) -> float:
        return self.functions_usd + self.azureml_usd


@dataclass(frozen=True)
class RunCost:
    steps: tuple[StepCost, ...] = ()

    @property
    def executions(self) -> int:
        return sum(s.executions for s in self.steps)

    @property
    def gb_seconds(self) -> float:
        return sum(s.gb_seconds for s in self.steps)

    @property
    def functions_usd(self) -> float:
        return sum(s.functions_usd for s in self.steps)

    @property
    def azureml_usd(self) -> float:
        return sum(s.azureml_usd for s in self.steps)

    @property
    def total_usd(self) -> float:
        return self.functions_usd + self.azureml_usd

    @property
    def unmeasured(self) -> tuple[str, ...]:
        return tuple(s.step for s in self.steps if not s.measured)

    def to_dict(self) -> dict[str, Any]:
        return {"total_usd": self.total_usd, "functions_usd": self.functions_usd, "azureml_usd": self.azureml_usd,
                "executions": self.executions, "gb_seconds": self.gb_seconds, "unmeasured": list(self.unmeasured),
                "steps": [{"step": s.step, "executions": s.executions, "billed_s": s.billed_s,
                           "gb_seconds": s.gb_seconds, "functions_usd": s.functions_usd,
                           "azureml_hours": s.azureml_hours, "azureml_usd": s.azureml_usd, "measured": s.measured,
                           "total_usd": s.total_usd} for s in self.steps]}


def functions_usd(billed_s: float, executions: float, rates: CostRates) -> tuple[float, float]:
    """(GB-seconds, dollars) of `executions` executions lasting `billed_s` billed seconds in all."""
    gb_seconds = billed_s * rates.instance_memory_mb / 1024
    return gb_seconds, gb_seconds * rates.gb_second_usd + executions * rates.million_executions_usd / 1e6


def step_cost(name: str, step: Mapping[str, Any], rates: CostRates) -> StepCost | None:
    """The cost of one step of a run record; None for a step that never ran on a worker."""
    attempts = int(step.get("attempts") or 0)
    if attempts < 1:
        return None  # approval, skipped, or never began
    usage = step.get("usage")
    measured = isinstance(usage, Mapping) and "wall_s" in usage
    last_s = max(float(usage["wall_s"]), MIN_BILLABLE_S) if measured else MIN_BILLABLE_S  # type: ignore[index]
    billed_s = last_s + (attempts - 1) * MIN_BILLABLE_S
    gb_seconds, dollars = functions_usd(billed_s, attempts, rates)
    outputs = step.get("outputs") or {}
    azureml_hours = 0.0
    if str(outputs.get("compute", "")).startswith("azureml:") and step.get("duration_s") is not None:
        azureml_hours = float(step["duration_s"]) / 3600
    return StepCost(step=name, executions=attempts, billed_s=billed_s, gb_seconds=gb_seconds, functions_usd=dollars,
                    azureml_hours=azureml_hours, azureml_usd=azureml_hours * rates.azureml_vm_hour_usd,
                    measured=measured)


def run_cost(run: Mapping[str, Any], rates: CostRates) -> RunCost:
    """The cost of a run record's steps, in plan order (then any step outside the plan)."""
    recorded = run.get("steps") or {}
    planned = list(run.get("steps_planned") or [])
    order = planned + [name for name in recorded if name not in planned]
    costs = [step_cost(name, recorded[name], rates) for name in order if name in recorded]
    return RunCost(tuple(cost for cost in costs if cost is not None))


@dataclass(frozen=True)
class TimerCost:
    function: str
    schedule: str
    executions_per_month: float
    usd_per_month: float


@dataclass(frozen=True)
class TimersCost:
    timers: tuple[TimerCost, ...] = field(default_factory=tuple)

    @property
    def usd_per_month(self) -> float:
        return sum(t.usd_per_month for t in self.timers)

    @property
    def executions_per_month(self) -> float:
        return sum(t.executions_per_month for t in self.timers)


def timers_monthly(schedules: Mapping[str, str], rates: CostRates) -> TimersCost:
    """Each timer's executions and dollars in an average month, from its schedule."""
    timers = []
    for function, schedule in sorted(schedules.items()):
        executions = executions_per_month(schedule)
        _, dollars = functions_usd(executions * MIN_BILLABLE_S, executions, rates)
        timers.append(TimerCost(function, schedule, executions, dollars))
    return TimersCost(tuple(timers))


@functools.lru_cache(maxsize=64)
def executions_per_month(schedule: str) -> float:
    """Occurrences of a six-field NCRONTAB schedule in an average month of a reference year. Schedules
    firing more than COUNT_CAP times a year are counted up to the cap and extrapolated to the year."""
    from croniter import croniter

    end = REFERENCE_YEAR + timedelta(days=365)
    moments = croniter(schedule, REFERENCE_YEAR - timedelta(seconds=1), second_at_beginning=True)
    first = moment = moments.get_next(datetime)
    count = 0
    while moment < end:
        count += 1
        if count == COUNT_CAP:  # the mean interval between the first and the last counted, over the year
            interval = (moment - first).total_seconds() / (count - 1)
            return (end - REFERENCE_YEAR).total_seconds() / interval / MONTHS_PER_YEAR
        moment = moments.get_next(datetime)
    return count / MONTHS_PER_YEAR

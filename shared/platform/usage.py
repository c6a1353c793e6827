"""Compute used by one piece of work: wall and CPU seconds of the worker, of the sandboxed
subprocesses it waited for, and peak memory. What the cost of a run is estimated from
(`shared/chain/cost.py`).

`metered()` opens a meter for the code run inside it (in this thread and what it calls: the meter is
a context variable, so concurrent invocations on other threads keep their own). The sandbox reports
each child it reaped with `record_child` (the child's rusage from `os.wait4`, exact for that child
and the descendants it waited for, never another invocation's children). `current()` reads the open
meter so far, e.g. to store it in the same write that completes a step.

Guarantees and limits:
- worker wall seconds are monotonic-clock seconds since the meter opened;
- worker CPU seconds are those of the thread that opened the meter (`time.thread_time`), so another
  invocation running concurrently in the same process is not counted; helper threads the work starts
  are not counted either;
- worker peak memory is the process's resident high-water mark so far (`ru_maxrss`): an upper bound of
  this work's peak, since the process may have peaked earlier; child peak memory is the largest peak
  of any one child (Linux reports it per process).

Standard library only.
"""

from __future__ import annotations

import contextvars
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# ru_maxrss is KiB on Linux, bytes on macOS
_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024


@dataclass
class Meter:
    """An open meter: where it started, and what the children it saw used."""

    wall_start: float = field(default_factory=time.monotonic)
    cpu_start: float = field(default_factory=time.thread_time)
    child_wall_s: float = 0.0
    child_cpu_s: float = 0.0
    child_peak_bytes: int = 0
    children: int = 0

    def snapshot(self) -> "Usage":
        return Usage(
            wall_s=round(time.monotonic() - self.wall_start, 3),
            cpu_s=round(time.thread_time() - self.cpu_start, 3),
            peak_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_BYTES,
            child_wall_s=round(self.child_wall_s, 3),
            child_cpu_s=round(self.child_cpu_s, 3),
            child_peak_bytes=self.child_peak_bytes,
            children=self.children,
        )


@dataclass(frozen=True)
class Usage:
    """What a piece of work used; `to_dict`/`from_dict` are its form on a run record."""

    wall_s: float
    cpu_s: float
    peak_bytes: int
    child_wall_s: float = 0.0
    child_cpu_s: float = 0.0
    child_peak_bytes: int = 0
    children: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "peak_mb": round(self.peak_bytes / 2**20, 1),
                "child_wall_s": self.child_wall_s, "child_cpu_s": self.child_cpu_s,
                "child_peak_mb": round(self.child_peak_bytes / 2**20, 1), "children": self.children}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> "Usage":
        return cls(wall_s=float(value.get("wall_s", 0.0)), cpu_s=float(value.get("cpu_s", 0.0)),
                   peak_bytes=int(float(value.get("peak_mb", 0.0)) * 2**20),
                   child_wall_s=float(value.get("child_wall_s", 0.0)), child_cpu_s=float(value.get("child_cpu_s", 0.0)),
                   child_peak_bytes=int(float(value.get("child_peak_mb", 0.0)) * 2**20),
                   children=int(value.get("children", 0)))


_meter: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("driftline_meter", default=None)


@contextmanager
def metered() -> Iterator[Meter]:
    """Meter the code run inside (a meter opened inside another counts the children reaped in it)."""
    meter = Meter()
    token = _meter.set(meter)
    try:
        yield meter
    finally:
        _meter.reset(token)


def current() -> Usage | None:
    """The open meter's usage so far, or None when no meter is open."""
    meter = _meter.get()
    return None if meter is None else meter.snapshot()


def record_child(wall_s: float, usage: resource.struct_rusage) -> None:
    """Count one reaped child (its wall seconds and its rusage from os.wait4) on the open meter."""
    meter = _meter.get()
    if meter is None:
        return
    meter.child_wall_s += wall_s
    meter.child_cpu_s += usage.ru_utime + usage.ru_stime
    meter.child_peak_bytes = max(meter.child_peak_bytes, usage.ru_maxrss * _MAXRSS_BYTES)
    meter.children += 1

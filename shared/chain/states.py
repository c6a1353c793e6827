"""The states a run and its steps go through, and the error a step raises to end its run.

```
run:   running ──► waiting (approval, CI) ──► running ──► succeeded
          └──────────────┴──► failed | rejected | skipped            (final)
step:  pending ──► running ──► succeeded | failed | rejected | skipped   (final)
          └──────────────────────► skipped   (the run stopped before the step began)
```
States are stored as their string values in `runs/<run_id>.json`; code compares enum members only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shared.platform.errors import DriftlineError


class RunStatus(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    SKIPPED = "skipped"

    @property
    def final(self) -> bool:
        return self in FINAL_RUN


class StepStatus(StrEnum):
    PENDING = "pending"  # planned, not begun (never stored: the absence of a step entry)
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    SKIPPED = "skipped"

    @property
    def final(self) -> bool:
        return self in FINAL_STEP


FINAL_RUN = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.REJECTED, RunStatus.SKIPPED})
FINAL_STEP = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.REJECTED, StepStatus.SKIPPED})
# How a run that stops at a step ends: the run and the step take the same final state.
STOPPED = (RunStatus.FAILED, RunStatus.REJECTED, RunStatus.SKIPPED)


def run_status(value: str) -> RunStatus:
    return RunStatus(value)


def step_status(step: dict[str, Any] | None) -> StepStatus:
    """The state of a step entry of a run record; no entry means pending."""
    return StepStatus(step["status"]) if step and "status" in step else StepStatus.PENDING


class StopRun(DriftlineError):
    """Raised by a step's core function when the run must end at this step (a failed gate, no data,
    a broken training entry point): recorded on the run and the step, not retried by the host."""

    def __init__(self, status: RunStatus, reason: str, outputs: dict[str, Any] | None = None,
                 traceback: str | None = None):
        if status not in STOPPED:
            raise ValueError(f"a run stops as {', '.join(STOPPED)}, not {status!r}")
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.outputs = dict(outputs or {})
        self.traceback = traceback  # of the user's code that failed, kept on the step record

"""Run fields on every log record: the run id, step and model of the run being worked on.

`bound(run_id, step, model)` marks what is logged inside it (a context variable, so each thread and
task keeps its own); the step adapter binds every queue step, the notify trigger its notification's
run. `install()` (once per process; `shared.platform.context.settings()` does it on first use) wraps
the log record factory so that every record made inside a run, from any logger (the app's, the
SDKs'), carries the bound `run_id`, `step` and `model` as attributes (those that are set; records
outside a run have none), which Application Insights keeps as custom dimensions. Inside a run, a message that does not name the run already gets
`[run <id> step <step> model <model>]` appended, so every handler and format (devhost, `func start`,
the Functions host's log) shows which run a line belongs to. Standard library only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

FIELDS = ("run_id", "step", "model")


@dataclass(frozen=True)
class RunFields:
    run_id: str
    step: str | None = None
    model: str | None = None

    def label(self) -> str:
        parts = [f"run {self.run_id}"]
        if self.step:
            parts.append(f"step {self.step}")
        if self.model:
            parts.append(f"model {self.model}")
        return " ".join(parts)


_current: ContextVar[RunFields | None] = ContextVar("driftline_run", default=None)
_lock = threading.Lock()
_installed = False


def current() -> RunFields | None:
    return _current.get()


@contextmanager
def bound(run_id: str, step: str | None = None, model: str | None = None) -> Iterator[RunFields]:
    """Within the block, every log record carries these run fields."""
    fields = RunFields(run_id, step, model)
    token = _current.set(fields)
    try:
        yield fields
    finally:
        _current.reset(token)


def install() -> None:
    """Wrap the log record factory (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            fields = _current.get()
            if fields is None:
                return record
            for name in FIELDS:  # only set ones: exporters refuse None attribute values
                if getattr(fields, name) is not None:
                    setattr(record, name, getattr(fields, name))
            if isinstance(record.msg, str):
                text = record.getMessage()
                if fields.run_id not in text:
                    record.msg, record.args = f"{text} [{fields.label()}]", ()
            return record

        logging.setLogRecordFactory(factory)
        _installed = True

"""The versioned message envelope that chains the steps, as JSON on the queues.

A message names the run and the step to do; everything a step needs beyond that is on the run
record (`shared/chain/runs.py`) or in `payload`. Parsing is strict: an unknown schema or a malformed
message raises `InvalidMessage` with a reason, and the trigger sends it to the poison path.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.platform.errors import InvalidMessage

SCHEMA = "driftline.step/1"
TRIGGER_KINDS = ("push", "upload", "drift", "timer", "manual", "feedback")


def new_traceparent() -> str:
    """The W3C traceparent a run starts with: the current span context's when there is one (the
    run continues the request's or step's trace), else a new trace's, so one run can be followed
    across steps and logs."""
    from shared.platform.tracing import current_traceparent

    return current_traceparent() or f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


@dataclass(frozen=True)
class StepMessage:
    run_id: str
    step: str
    model: str
    trigger: dict[str, Any]
    reason: str
    trace: str = field(default_factory=new_traceparent)
    attempt: int = 1
    payload: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA
    deferred: int = 0  # times this copy was put back because its step could not begin yet

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    def next(self, step: str, payload: dict[str, Any] | None = None) -> "StepMessage":
        """The message for the following step of the same run, keeping trigger and reason; its trace
        is the current span context's (this step's span) when there is one, else this message's."""
        from shared.platform.tracing import current_traceparent

        return StepMessage(
            run_id=self.run_id,
            step=step,
            model=self.model,
            trigger=self.trigger,
            reason=self.reason,
            trace=current_traceparent() or self.trace,
            payload=dict(payload or {}),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "StepMessage":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            raise InvalidMessage(f"message is not JSON ({str(error)[:200]}).") from None
        if not isinstance(data, dict):
            raise InvalidMessage("message is not a JSON object.")
        run_id = data.get("run_id") if isinstance(data.get("run_id"), str) else None
        schema = data.get("schema")
        if schema != SCHEMA:
            raise InvalidMessage(f"unknown message schema {schema!r}; this app reads {SCHEMA!r}.", run_id)
        problems = [
            f"{name} must be a non-empty string"
            for name in ("run_id", "step", "model", "reason", "trace")
            if not isinstance(data.get(name), str) or not data.get(name)
        ]
        if not isinstance(data.get("trigger"), dict) or data["trigger"].get("kind") not in TRIGGER_KINDS:
            problems.append(f"trigger must be an object whose kind is one of {', '.join(TRIGGER_KINDS)}")
        if not isinstance(data.get("payload", {}), dict):
            problems.append("payload must be an object")
        for counter in ("attempt", "deferred"):
            if not isinstance(data.get(counter, 0), int) or isinstance(data.get(counter, 0), bool):
                problems.append(f"{counter} must be an integer")
        unknown = sorted(set(data) - {f for f in cls.__dataclass_fields__})
        if unknown:
            problems.append(f"unknown fields {', '.join(unknown)}")
        if problems:
            raise InvalidMessage("malformed message: " + "; ".join(problems) + ".", run_id)
        return cls(**data)

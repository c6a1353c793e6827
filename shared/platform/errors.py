"""The one error hierarchy of the app, and the one mapping from any error to an HTTP answer.

```
DriftlineError                      root: every error the app raises on purpose
├── UserError                       the caller can fix it; one sentence, and an HTTP status
│   ├── BadRequest          400     malformed or invalid input (body, field, name, id)
│   ├── Unauthorized        401     missing or wrong signature / secret / identity
│   ├── Forbidden           403     an authenticated identity that may not do this (an approver not allowed)
│   ├── NotFound            404     no such model, version, run or request
│   ├── StateConflict       409     valid, but not now: run not waiting, no previous version, ...
│   ├── PayloadTooLarge     413     body or item count past a limit
│   └── Unavailable         503     nothing to serve yet
├── StopRun (shared.chain.states)   a step ends its run (failed gate, no data): recorded, not retried
├── InvalidMessage                  a queue message that cannot be processed: poisoned with the reason
├── SettingsError                   an app setting is missing or malformed: the app does not start
└── StorageError
    ├── BlobNotFound                the blob does not exist
    └── ConditionFailed             a conditional write lost (exists already, or changed since read)
```

`http_answer(error)` is the only place that picks a status: a `UserError` answers its own status and
message; anything else is unexpected and answers 500 with a JSON body and a correlation id, the same
id that `log_unexpected` logs with the traceback. So the same fault gets the same status on every
route, and no route answers an empty 500.

This module is imported by `functions/` at request time and by every package of the core; it imports
nothing but the standard library.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any


class DriftlineError(Exception):
    """Root of every error the app raises on purpose."""


class UserError(DriftlineError):
    """Something the caller can fix, said in one sentence; `status` is the HTTP answer."""

    status = 400

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(UserError):
    status = 400


class Unauthorized(UserError):
    status = 401


class Forbidden(UserError):
    status = 403


class NotFound(UserError):
    status = 404


class StateConflict(UserError):
    status = 409


class PayloadTooLarge(UserError):
    status = 413


class Unavailable(UserError):
    status = 503


class InvalidMessage(DriftlineError):
    """A queue message that cannot be processed; `run_id` is set when it could be read, to record it."""

    def __init__(self, reason: str, run_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.run_id = run_id


class SettingsError(DriftlineError, ValueError):
    """An app setting is missing or malformed; the message names it and what is expected."""


class StorageError(DriftlineError):
    """A storage operation did not do what was asked."""


class BlobNotFound(StorageError):
    """The blob does not exist."""


class ConditionFailed(StorageError):
    """A conditional write lost: the blob exists already, or changed since it was read."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as plain data; `functions/` turns it into an HttpResponse."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _correlation_id() -> str:
    return os.urandom(16).hex()  # 128 random bits, like a uuid4, without importing uuid at indexing


def http_answer(error: BaseException, correlation_id: str | None = None) -> Answer:
    """The answer for any error: its own status for a UserError, else 500 with a correlation id."""
    if isinstance(error, UserError):
        return Answer(error.status, {"error": error.message, **error.details})
    correlation_id = correlation_id or _correlation_id()
    return Answer(
        500,
        {"error": "internal error: the app failed unexpectedly; the log has the details under this "
                  "correlation id.", "correlation_id": correlation_id},
        {"X-Correlation-Id": correlation_id},
    )


def log_unexpected(log: logging.Logger, error: BaseException, where: str) -> str:
    """Log an unexpected error with its traceback; returns the correlation id to answer with."""
    correlation_id = _correlation_id()
    log.error("%s failed unexpectedly (correlation id %s)", where, correlation_id, exc_info=error)
    return correlation_id

"""Notifications: queued messages, delivered as signed webhooks to DRIFTLINE_NOTIFY_URL.

A step never calls the receiver itself: it enqueues a notification on the `notify` queue, and the
notify trigger POSTs it (`handle`). A failed POST raises, so the host retries it; the step that caused
it is not held up or repeated. The last delivery (maxDequeueCount, `shared.platform.dequeue`) that
fails too goes to `notify-poison` with the reason, which is also noted on the notification's run as an
event (a notification failing does not change how the run ended). A notification that is not one this
app wrote (malformed, or naming a run that does not exist) goes to `notify-poison` at once and is
never sent.

Each POST carries:
- `X-Driftline-Event`: what happened (e.g. model.deployed, approval.requested, run.rejected);
- `X-Driftline-Delivery`: a UUID fixed when the notification is made, the same on every retry
  (and the same when a redelivered step enqueues it again), so receivers can drop duplicates;
- `X-Driftline-Timestamp`: Unix seconds at sending; receivers reject old ones (replays);
- `X-Driftline-Signature`: `sha256=<hex>` HMAC over `<timestamp>.<body>` with DRIFTLINE_NOTIFY_SECRET
  (absent when no secret is configured).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.platform import names
from shared.platform.clock import utcnow
from shared.platform.errors import BadRequest, DriftlineError, InvalidMessage
from shared.platform.settings import Settings
from shared.platform.signatures import sign_timestamped
from shared.platform.storage import Storage

SCHEMA = "driftline.notify/1"
EVENTS = (
    "approval.requested",
    "run.approved",
    "run.rejected",
    "run.failed",
    "model.deployed",
    "model.canary_started",
    "model.promoted",
    "model.rolled_back",
    "drift.detected",
)
_DELIVERY_NAMESPACE = uuid.UUID("6f1c7d3e-2a8b-4c53-9a51-3f0d9a1b7e42")
log = logging.getLogger(__name__)


class InvalidNotification(InvalidMessage):
    """The queued notification is not one this app wrote; it goes to the poison queue."""


class DeliveryFailed(DriftlineError):
    """The receiver did not accept the notification; raised so the host retries."""


@dataclass(frozen=True)
class Notification:
    event: str
    model: str
    delivery: str
    run_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=utcnow)
    schema: str = SCHEMA

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Notification":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidNotification(f"notification is not JSON ({error}).") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise InvalidNotification(f"not a {SCHEMA} notification.")
        problems = [f"{key} must be a non-empty string" for key in ("event", "model", "delivery", "at")
                    if not isinstance(data.get(key), str) or not data.get(key)]
        if data.get("event") not in EVENTS:
            problems.append(f"event must be one of {', '.join(EVENTS)}")
        if not isinstance(data.get("data", {}), dict):
            problems.append("data must be an object")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            problems.append(f"unknown fields {', '.join(unknown)}")
        if problems:
            raise InvalidNotification("malformed notification: " + "; ".join(problems) + ".")
        return cls(**data)


def make(event: str, *, model: str, run_id: str | None = None, data: dict[str, Any] | None = None,
         key: str = "") -> Notification:
    """A notification whose delivery id is derived from (event, model, run, key) when tied to a run,
    so the same event of the same run always has the same id."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}.")
    if run_id is None:
        delivery = str(uuid.uuid4())
    else:
        delivery = str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{event}\x1f{model}\x1f{run_id}\x1f{key}"))
    return Notification(event=event, model=model, delivery=delivery, run_id=run_id, data=dict(data or {}))


def enqueue(storage: Storage, event: str, *, model: str, run_id: str | None = None,
            data: dict[str, Any] | None = None, key: str = "") -> Notification:
    notification = make(event, model=model, run_id=run_id, data=data, key=key)
    storage.send(names.NOTIFY_QUEUE, notification.to_json())
    return notification


def handle(storage: Storage, settings: Settings, body: str, dequeue_count: int | None = None) -> str:
    """One delivery of a notify-queue message: "delivered", "skipped" (no URL) or "poisoned"; raises
    DeliveryFailed (the host retries) unless this was the message's last delivery."""
    from contextlib import nullcontext

    from shared.chain import runs
    from shared.platform import dequeue, logs

    try:
        notification = Notification.from_json(body)
        if notification.run_id is not None and runs.get_run(storage, runs.check_run_id(notification.run_id)) is None:
            raise InvalidNotification(f"the notification names run {notification.run_id}, which does not exist.")
    except (InvalidNotification, BadRequest) as error:
        runs.poison(storage, names.NOTIFY_QUEUE, body, str(error))
        log.error("notification poisoned: %s", error)
        return "poisoned"
    with logs.bound(notification.run_id, "notify", notification.model) if notification.run_id else nullcontext():
        try:
            outcome = deliver(settings, notification)
        except Exception as error:
            if not dequeue.last_attempt(dequeue_count):
                raise
            reason = (f"{notification.event} ({notification.delivery}) not delivered: {type(error).__name__}: "
                      f"{error}, on each of {dequeue_count} deliveries (maxDequeueCount "
                      f"{dequeue.max_dequeue_count()}); the message is in {names.NOTIFY_QUEUE}-poison.")
            runs.poison(storage, names.NOTIFY_QUEUE, body, reason)
            if notification.run_id is not None:
                runs.add_event(storage, notification.run_id, f"notification {reason}")
            log.error("notification poisoned: %s", reason)
            return "poisoned"
        log.info("notification %s %s: %s", notification.event, notification.delivery, outcome)
        return outcome


def headers(notification: Notification, body: bytes, secret: str | None, timestamp: str) -> dict[str, str]:
    result = {
        "Content-Type": "application/json",
        "User-Agent": "driftline-notify/1",
        "X-Driftline-Event": notification.event,
        "X-Driftline-Delivery": notification.delivery,
        "X-Driftline-Timestamp": timestamp,
    }
    if secret:
        result["X-Driftline-Signature"] = sign_timestamped(secret, timestamp, body)
    return result


def deliver(settings: Settings, notification: Notification, *, timeout: float = 10.0) -> str:
    """POST the notification; returns "delivered", or "skipped" when no URL is configured."""
    import urllib.error  # urllib.request pulls in http.client and ssl: not at import (cold start)
    import urllib.request

    if not settings.notify_url:
        log.info("notification %s (%s) not sent: DRIFTLINE_NOTIFY_URL is not set",
                 notification.event, notification.delivery)
        return "skipped"
    body = notification.to_json().encode("utf-8")
    request = urllib.request.Request(
        settings.notify_url,
        data=body,
        method="POST",
        headers=headers(notification, body, settings.notify_secret, str(int(time.time()))),
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"{settings.notify_url} answered {error.code} to {notification.event}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DeliveryFailed(f"{settings.notify_url} unreachable for {notification.event}: {error}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{settings.notify_url} answered {status} to {notification.event}")
    return "delivered"

"""Queue triggers, following the host's queue listener and host.json `extensions.queues`:

- poll with `batchSize` messages at a time; fetch the next batch when the messages in flight drop
  to `newBatchThreshold`; when the queue is empty, back off (100 ms doubling) up to
  `maxPollingInterval`; an output binding of this host writing to the queue wakes the listener at
  once (the host's SharedQueueWatcher does the same);
- a received message is kept invisible while its function runs (lease renewed in the background);
- success deletes it; failure makes it visible again after `visibilityTimeout`; a failure at
  `dequeue_count >= maxDequeueCount` (or a message received with a higher count) copies the
  message text unchanged to `<queue>-poison`, deletes it and logs a warning;
- at shutdown polling stops, functions in flight may finish within the drain time, and messages
  whose function did not finish are made visible again (never deleted).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient

from devhost.bindings import annotation_kind, decode_message

if TYPE_CHECKING:
    from devhost.invocation import Invoker
    from devhost.metadata import FunctionSpec
    from devhost.runtime import Runtime

log = logging.getLogger("devhost")

MIN_POLL = 0.1
LEASE_SECONDS = 60  # invisibility while a function runs; renewed every LEASE_SECONDS / 2


@dataclass
class _InFlight:
    message: Any
    pop_receipt: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: bool = False
    released: bool = False


class QueueListener:
    def __init__(self, spec: FunctionSpec, runtime: Runtime, invoker: Invoker):
        self.spec = spec
        self.runtime = runtime
        self.invoker = invoker
        self.connection: str | None = spec.trigger.get("connection")
        self.queue_name: str = spec.trigger["queueName"]
        options = runtime.config
        self.batch_size = max(1, min(32, options.batch_size))
        self.new_batch_threshold = max(0, options.new_batch_threshold)
        self.max_dequeue_count = max(1, options.max_dequeue_count)
        self.visibility_timeout = int(options.visibility_timeout)
        self.max_polling_interval = max(MIN_POLL, options.max_polling_interval)
        self.encoding = options.message_encoding
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._slot_free = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[str, _InFlight] = {}
        self._threads: list[threading.Thread] = []
        self.last_empty_poll = float("-inf")
        self.client: QueueClient = runtime.connections.queue(self.connection, self.queue_name)
        runtime.queue_writes.subscribe(self.connection, self.queue_name, self.wake)

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.client = self.runtime.connections.queue(self.connection, self.queue_name, create=True)
        for target, label in ((self._poll_loop, "poll"), (self._renew_loop, "lease")):
            thread = threading.Thread(target=target, name=f"queue-{label}-{self.spec.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._slot_free.set()

    def close(self, timeout: float) -> None:
        self._release_unfinished()
        for thread in self._threads:
            thread.join(timeout)

    def _release_unfinished(self) -> None:
        """Make messages whose function did not finish visible again (never deleted)."""
        with self._lock:
            records = list(self._inflight.values())
        released = 0
        for record in records:
            with record.lock:
                if record.finished or record.released:
                    continue
                record.released = True
                try:
                    self.client.update_message(record.message.id, pop_receipt=record.pop_receipt, visibility_timeout=0)
                    released += 1
                except Exception as error:  # best effort: it becomes visible when its lease ends
                    log.warning("Could not release message %s on queue '%s': %s", record.message.id, self.queue_name, error)
        self._closed.set()
        if released:
            log.warning("Released %d unfinished message(s) on queue '%s' (visible again).", released, self.queue_name)

    def wake(self) -> None:
        self._wake.set()

    def run_once(self, text: str) -> bool:
        message = QueueMessage(id="admin", body=text.encode("utf-8"), dequeue_count=1)

        def trigger_arg(annotation: Any) -> Any:
            kind = annotation_kind(annotation)
            if kind == "str":
                return text
            if kind == "bytes":
                return message.get_body()
            return message

        self.invoker.invoke_in_background(self.spec, trigger_arg, {"queueTrigger": text}, "admin invoke")
        return True

    # -- idle detection ------------------------------------------------------------------------

    def quiet_since(self, moment: float) -> bool:
        with self._lock:
            busy = bool(self._inflight)
        return not busy and self.last_empty_poll > moment

    def queue_empty(self) -> bool:
        """No message in the queue, visible or not (Azure's approximate count includes invisible ones)."""
        try:
            return self.client.get_queue_properties().approximate_message_count == 0
        except ResourceNotFoundError:
            return True

    def busy_reason(self) -> str:
        return f"queue '{self.queue_name}' ({self.spec.name}): {len(self._inflight)} in flight"

    # -- polling -------------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        delay = MIN_POLL
        while not self._stop.is_set():
            with self._lock:
                busy = len(self._inflight)
            if busy > self.new_batch_threshold:
                self._slot_free.clear()
                self._slot_free.wait(0.5)
                continue
            started = time.monotonic()
            try:
                messages = list(
                    self.client.receive_messages(
                        messages_per_page=self.batch_size,
                        max_messages=self.batch_size,
                        visibility_timeout=LEASE_SECONDS,
                    )
                )
            except ResourceNotFoundError:
                messages = []
                self.client = self.runtime.connections.queue(self.connection, self.queue_name, create=True)
            except Exception as error:
                if self._stop.is_set():
                    break
                log.warning("Polling queue '%s' failed: %s", self.queue_name, error)
                messages = []
            if messages:
                delay = MIN_POLL
                for message in messages:
                    if self._stop.is_set():  # received while stopping: give it back at once
                        self._release_now(message)
                        continue
                    self._dispatch(message)
                continue
            with self._lock:
                if not self._inflight:
                    self.last_empty_poll = started
            if self._wake.wait(delay):
                self._wake.clear()
                delay = MIN_POLL
            else:
                delay = min(delay * 2, self.max_polling_interval)

    def _release_now(self, message) -> None:
        try:
            self.client.update_message(message.id, pop_receipt=message.pop_receipt, visibility_timeout=0)
        except Exception:
            pass

    def _dispatch(self, message) -> None:
        if message.dequeue_count > self.max_dequeue_count:
            self._poison(message.id, message.pop_receipt, message.content, message.dequeue_count)
            return
        record = _InFlight(message, message.pop_receipt)
        with self._lock:
            self._inflight[message.id] = record
        thread = threading.Thread(target=self._process, args=(record,), name=f"queue-{self.spec.name}", daemon=True)
        thread.start()

    def _process(self, record: _InFlight) -> None:
        message = record.message
        body = decode_message(message.content, self.encoding)
        data: dict[str, Any] = {
            "queueTrigger": body.decode("utf-8", errors="replace"),
            "id": message.id,
            "dequeueCount": message.dequeue_count,
            "insertionTime": message.inserted_on,
            "expirationTime": message.expires_on,
            "nextVisibleTime": message.next_visible_on,
            "popReceipt": message.pop_receipt,
        }
        try:
            payload = json.loads(body)
            if isinstance(payload, dict):  # JSON properties win over same-named message metadata
                data = {**data, **payload, "queueTrigger": data["queueTrigger"]}
        except ValueError:
            pass

        def trigger_arg(annotation):
            kind = annotation_kind(annotation)
            if kind == "str":
                return body.decode("utf-8")
            if kind == "bytes":
                return body
            return QueueMessage(
                id=message.id, body=body, dequeue_count=message.dequeue_count,
                expiration_time=message.expires_on, insertion_time=message.inserted_on,
                time_next_visible=message.next_visible_on, pop_receipt=message.pop_receipt,
            )

        detail = f"queue={self.queue_name} id={message.id} dequeue_count={message.dequeue_count}"
        try:
            result = self.invoker.invoke(self.spec, trigger_arg, data, detail)
            with record.lock:
                record.finished = True
                if record.released:
                    return
                if result.ok:
                    self.client.delete_message(message.id, record.pop_receipt)
                elif message.dequeue_count >= self.max_dequeue_count:
                    self._poison(message.id, record.pop_receipt, message.content, message.dequeue_count)
                else:
                    self.client.update_message(
                        message.id, pop_receipt=record.pop_receipt, visibility_timeout=self.visibility_timeout
                    )
        except Exception as error:
            log.error("Queue '%s': completing message %s failed: %s", self.queue_name, message.id, error)
        finally:
            with self._lock:
                self._inflight.pop(message.id, None)
            self._slot_free.set()
            self._wake.set()

    def _poison(self, message_id: str, pop_receipt: str, content: str, dequeue_count: int) -> None:
        poison_name = f"{self.queue_name}-poison"
        log.warning(
            "Message %s on queue '%s' has reached MaxDequeueCount of %d (dequeue_count=%d). "
            "Moving message to queue '%s'.",
            message_id, self.queue_name, self.max_dequeue_count, dequeue_count, poison_name,
        )
        poison = self.runtime.connections.queue(self.connection, poison_name, create=True)
        poison.send_message(content)  # the same text: base64 stays base64, as the host copies it
        self.client.delete_message(message_id, pop_receipt)
        self.runtime.queue_writes.notify(self.connection, poison_name)

    def _renew_loop(self) -> None:
        while not self._closed.wait(LEASE_SECONDS / 2):
            with self._lock:
                records = list(self._inflight.values())
            for record in records:
                with record.lock:
                    if record.finished or record.released:
                        continue
                    try:
                        receipt = self.client.update_message(
                            record.message.id, pop_receipt=record.pop_receipt, visibility_timeout=LEASE_SECONDS
                        )
                        # The SDK types pop_receipt as optional (peeked messages have none); an update always returns one.
                        record.pop_receipt = receipt.pop_receipt or record.pop_receipt
                    except Exception as error:
                        log.warning("Renewing the lease of message %s failed: %s", record.message.id, error)

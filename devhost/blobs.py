"""Blob triggers: container scan with receipts, poison blobs, and the EventGrid source.

Like the host:
- a new or changed blob (new ETag) whose name matches the path pattern fires the function once;
  blobs already there at the first start fire too;
- after a successful invocation a receipt is written to the host storage account, container
  `azure-webjobs-hosts`, blob `blobreceipts/<hostId>/Host.Functions.<name>/<etag>/<container>/<blob>`;
  a blob with a receipt for its current ETag never fires again, across restarts;
- a failing blob is retried (on the next scan) until it failed `poisonBlobThreshold` times
  (host.json `extensions.blobs`, default 5); then a message goes to queue
  `webjobs-blobtrigger-poison` ({"Type": "BlobTrigger", "FunctionId", "BlobType",
  "ContainerName", "BlobName", "ETag"}) and the blob is not retried (its receipt says Poisoned);
- a trigger with `source: EventGrid` is not scanned; it fires from
  `POST /runtime/webhooks/blobs?functionName=Host.Functions.<name>` (see devhost.http).
  Any blob trigger accepts the webhook. The receipt check applies to both sources.

One blob's storage error (a name the service refuses to serve or to name a receipt after) counts as
a failed attempt of that blob only; the rest of the listing goes on.

Differences: the host finds changes through storage logs plus a scan every few seconds with a
per-scan budget; here a full listing of the prefix every `blob_poll_interval` seconds. Failure counts
live in memory (a restart starts counting again), the host keeps them in its internal queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from azure.functions.blob import InputStream

from devhost.bindings import annotation_kind, encode_message
from devhost.expressions import BlobPath

if TYPE_CHECKING:
    from devhost.invocation import Invoker
    from devhost.metadata import FunctionSpec
    from devhost.runtime import Runtime

log = logging.getLogger("devhost")

HOSTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"


def quoted(etag: str) -> str:
    """ETags in the header form ("0x8D..."): listings return them bare, responses quoted."""
    etag = str(etag)
    return etag if etag.startswith('"') else f'"{etag}"'


class BlobListener:
    def __init__(self, spec: FunctionSpec, runtime: Runtime, invoker: Invoker, *, poll_interval: float):
        self.spec = spec
        self.runtime = runtime
        self.invoker = invoker
        self.poll_interval = poll_interval
        self.connection: str | None = spec.trigger.get("connection")
        self.path = BlobPath.parse(spec.trigger.get("path", ""), f"Function '{spec.name}' blob trigger")
        self.polled = str(spec.trigger.get("source") or "").lower() != "eventgrid"
        self.threshold = max(1, runtime.config.poison_blob_threshold)
        self._slots = threading.BoundedSemaphore(max(1, runtime.config.blob_parallelism))
        self._lock = threading.Lock()
        self._done: set[tuple[str, str]] = set()
        self._running: set[tuple[str, str]] = set()
        self._failures: dict[tuple[str, str], int] = {}
        self._pending_events = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_clean_scan = float("-inf")

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.polled:
            self._thread = threading.Thread(target=self._scan_loop, name=f"blob-scan-{self.spec.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def close(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def run_once(self, text: str) -> bool:
        container, _, name = text.partition("/")
        return self.accept_event(container, name)

    def quiet_since(self, moment: float) -> bool:
        with self._lock:
            pending = bool(self._running) or self._pending_events > 0 or any(
                key not in self._done for key in self._failures
            )
        if pending:
            return False
        return not self.polled or self.last_clean_scan > moment

    def busy_reason(self) -> str:
        with self._lock:
            return (
                f"blob '{self.path.container}/{self.path.pattern}' ({self.spec.name}): "
                f"{len(self._running)} running, {len(self._failures)} failing, {self._pending_events} events"
            )

    # -- scanning ------------------------------------------------------------------------------

    def _scan_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                work = self._scan()
            except Exception as error:
                log.warning("Scanning blobs for '%s' failed: %s", self.spec.name, error)
                work = True
            if not work:
                with self._lock:
                    clean = not self._running and all(k in self._done for k in self._failures)
                if clean:
                    self.last_clean_scan = started
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _scan(self) -> bool:
        """One listing of the container; returns True when something was dispatched or is running."""
        container = self.runtime.connections.container(self.connection, self.path.container)
        seen: set[tuple[str, str]] = set()
        work = False
        try:
            blobs = list(container.list_blobs(name_starts_with=self.path.prefix or None))
        except ResourceNotFoundError:
            blobs = []
        for blob in blobs:
            if self._stop.is_set():
                return True
            if self.path.match(blob.name) is None:
                continue
            key = (blob.name, quoted(blob.etag))
            seen.add(key)
            with self._lock:
                if key in self._done:
                    continue
                if key in self._running:
                    work = True
                    continue
            try:
                received = self._has_receipt(*key)
            except Exception as error:  # one blob's storage error must not hold up the rest of the listing
                log.warning("Checking the receipt of '%s/%s' failed: %s", self.path.container, blob.name[:200], error)
                received = False
            if received:
                with self._lock:
                    self._done.add(key)
                continue
            work = True
            self._slots.acquire()
            with self._lock:
                self._running.add(key)
            threading.Thread(target=self._run_scanned, args=(key,), name=f"blob-{self.spec.name}", daemon=True).start()
        with self._lock:
            for key in [k for k in self._failures if k not in seen and k not in self._running]:
                del self._failures[key]  # deleted or changed since: nothing left to retry
        return work

    def _run_scanned(self, key: tuple[str, str]) -> None:
        try:
            self._attempt(key, "scan")
        except Exception as error:  # storage refused this blob (name, receipt): counts as a failed attempt
            self._failed_outside(key, error)
        finally:
            with self._lock:
                self._running.discard(key)
            self._slots.release()

    # -- EventGrid -----------------------------------------------------------------------------

    def accept_event(self, container: str, blob_name: str) -> bool:
        """Handle a BlobCreated event; False when the blob is not under this trigger's path."""
        if container != self.path.container or self.path.match(blob_name) is None:
            return False
        with self._lock:
            self._pending_events += 1
        threading.Thread(target=self._run_event, args=(blob_name,), name=f"blob-event-{self.spec.name}", daemon=True).start()
        return True

    def _run_event(self, blob_name: str) -> None:
        try:
            while not self._stop.is_set():
                client = self.runtime.connections.container(self.connection, self.path.container).get_blob_client(blob_name)
                try:
                    etag = quoted(client.get_blob_properties().etag)
                except ResourceNotFoundError:
                    log.warning("EventGrid event for '%s/%s': blob not found, ignored.", self.path.container, blob_name)
                    return
                key = (blob_name, etag)
                with self._lock:
                    if key in self._done or key in self._running:
                        return
                    self._running.add(key)
                try:
                    if self._has_receipt(*key):
                        with self._lock:
                            self._done.add(key)
                        return
                    with self._slots:
                        finished = self._attempt(key, "EventGrid")
                finally:
                    with self._lock:
                        self._running.discard(key)
                if finished:
                    return
                self._stop.wait(self.poll_interval)
        finally:
            with self._lock:
                self._pending_events -= 1

    def _failed_outside(self, key: tuple[str, str], error: Exception) -> None:
        """An attempt failed before or after the function (reading the blob, writing its receipt):
        count it like a failed invocation, and stop retrying after the poison threshold."""
        name, etag = key
        with self._lock:
            attempt = self._failures.get(key, 0) + 1
            self._failures[key] = attempt
        log.warning("Blob '%s/%s' could not be handled (attempt %d): %s", self.path.container, name[:200], attempt, error)
        if attempt >= self.threshold:
            try:
                self._poison(name, etag, "BlockBlob")
            except Exception as poison_error:
                log.warning("Poisoning '%s/%s' failed too: %s", self.path.container, name[:200], poison_error)
            with self._lock:
                self._done.add(key)

    # -- one attempt ---------------------------------------------------------------------------

    def _attempt(self, key: tuple[str, str], source: str) -> bool:
        """Invoke for one blob version; True when done with it (success, poisoned, gone or changed)."""
        name, etag = key
        container = self.path.container
        client = self.runtime.connections.container(self.connection, container).get_blob_client(name)
        try:
            downloader = client.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
            content = downloader.readall()
        except (ResourceNotFoundError, ResourceModifiedError):
            return True  # deleted or changed since listed: the next scan sees the new version
        except HttpResponseError as error:
            if error.status_code == 412:
                return True
            raise
        properties = downloader.properties
        blob_type = str(getattr(properties.blob_type, "value", properties.blob_type))
        blob_properties = {
            "ETag": quoted(properties.etag),
            "Length": properties.size,
            "ContentType": properties.content_settings.content_type,
            "LastModified": properties.last_modified,
            "BlobType": blob_type,
        }
        metadata = dict(properties.metadata or {})
        groups = self.path.match(name) or {}
        data: dict[str, Any] = {
            **groups,
            "BlobTrigger": f"{container}/{name}",
            "Uri": client.url,
            "Properties": blob_properties,
            "Metadata": metadata,
        }

        def trigger_arg(annotation):
            kind = annotation_kind(annotation)
            if kind == "bytes":
                return content
            if kind == "str":
                return content.decode("utf-8")
            return InputStream(
                data=content, name=f"{container}/{name}", uri=client.url, length=len(content),
                blob_properties=blob_properties, metadata=metadata,
            )

        with self._lock:
            attempt = self._failures.get(key, 0) + 1
        detail = f"blob={container}/{name} etag={etag} source={source} attempt={attempt}"
        result = self.invoker.invoke(self.spec, trigger_arg, data, detail)
        if result.ok:
            self._write_receipt(name, etag)
            with self._lock:
                self._done.add(key)
                self._failures.pop(key, None)
            return True
        with self._lock:
            self._failures[key] = attempt
        if attempt >= self.threshold:
            self._poison(name, etag, blob_type)
            with self._lock:
                self._done.add(key)
            return True
        return False

    def _receipt_name(self, name: str, etag: str) -> str:
        return f"blobreceipts/{self.runtime.host_id}/{self.spec.function_id}/{etag}/{self.path.container}/{name}"

    def _receipts(self):
        return self.runtime.connections.container(None, HOSTS_CONTAINER, create=True)

    def _has_receipt(self, name: str, etag: str) -> bool:
        return self._receipts().get_blob_client(self._receipt_name(name, etag)).exists()

    def _write_receipt(self, name: str, etag: str, **metadata: str) -> None:
        self._receipts().get_blob_client(self._receipt_name(name, etag)).upload_blob(
            b"", overwrite=True, metadata={"Completed": "true", **metadata}
        )

    def _poison(self, name: str, etag: str, blob_type: str) -> None:
        message = {
            "Type": "BlobTrigger",
            "FunctionId": self.spec.function_id,
            "BlobType": blob_type or "BlockBlob",
            "ContainerName": self.path.container,
            "BlobName": name,
            "ETag": etag,
        }
        log.warning(
            "Blob '%s/%s' (ETag %s) failed %d times in '%s': moving it to queue '%s'; it will not be retried.",
            self.path.container, name, etag, self.threshold, self.spec.name, POISON_QUEUE,
        )
        queue = self.runtime.connections.queue(self.connection, POISON_QUEUE, create=True)
        queue.send_message(encode_message(json.dumps(message), self.runtime.config.message_encoding))
        self.runtime.queue_writes.notify(self.connection, POISON_QUEUE)
        self._write_receipt(name, etag, Completed="false", Poisoned="true")

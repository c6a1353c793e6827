"""Notifications: a real local HTTP receiver checks the signature and the stable delivery id."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from shared.chain import notify
from shared.platform import names, signatures
from tests.helpers.chain import poison_entries

SECRET = "notify-secret"


class Receiver:
    """A webhook receiver on a free local port that verifies signatures like a real one would."""

    def __init__(self, status: int = 200):
        self.status = status
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = signatures.sign_timestamped(SECRET, self.headers["X-Driftline-Timestamp"], body)
                receiver.received.append({
                    "verified": self.headers.get("X-Driftline-Signature") == expected,
                    "headers": dict(self.headers),
                    "body": json.loads(body),
                })
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_notification_is_posted_signed_with_a_stable_delivery_id(chain):
    with Receiver() as receiver:
        chain.configure(notify_url=receiver.url, notify_secret=SECRET)
        run_id = chain.start([])
        sent = notify.enqueue(chain.storage, "model.deployed", model=chain.model, run_id=run_id, data={"version": 3})
        again = notify.make("model.deployed", model=chain.model, run_id=run_id, data={"version": 3})
        assert again.delivery == sent.delivery  # a redelivered step makes the same delivery id
        [body] = chain.take(names.NOTIFY_QUEUE)
        chain.deliver("notify", body)
        chain.deliver("notify", body)  # a retry of the same message
    first, second = receiver.received
    assert first["verified"] and second["verified"]
    assert first["headers"]["X-Driftline-Event"] == "model.deployed"
    assert first["headers"]["X-Driftline-Delivery"] == second["headers"]["X-Driftline-Delivery"] == sent.delivery
    assert first["body"]["data"] == {"version": 3} and first["body"]["run_id"] == run_id


def test_wrong_secret_does_not_verify_and_refusal_raises_for_a_retry(chain):
    with Receiver(status=503) as receiver:
        chain.configure(notify_url=receiver.url, notify_secret="another-secret")
        notify.enqueue(chain.storage, "run.rejected", model=chain.model, run_id=chain.start([]))
        [body] = chain.take(names.NOTIFY_QUEUE)
        with pytest.raises(notify.DeliveryFailed, match="503"):
            chain.deliver("notify", body)
    assert receiver.received and not receiver.received[0]["verified"]


def test_without_a_url_notifications_are_skipped(chain):
    from shared.platform import context

    notification = notify.make("approval.requested", model=chain.model, run_id="r3")
    assert notify.deliver(context.settings(), notification) == "skipped"


def test_malformed_notification_goes_to_poison(chain):
    body = json.dumps({"schema": notify.SCHEMA, "event": "model.exploded", "model": chain.model})
    chain.deliver("notify", body)
    poisoned = poison_entries(chain, names.NOTIFY_QUEUE, body)
    assert poisoned and "event must be one of" in poisoned[0]["reason"]


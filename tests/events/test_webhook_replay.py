"""Webhook deliveries replayed, forged, truncated or tampered: a push starts at most one run per
repository, branch and commit range whatever the delivery id says, and secrets never reach the log."""

from __future__ import annotations

import hmac
import logging
import uuid

import pytest

from shared.platform import context, names, signatures
from tests.helpers.event_data import ADO_SECRET, GITHUB_SECRET, ado_push, body, github_commit, github_push, sha
from tests.helpers.events import drain, queued, runs_of
from tests.events.test_webhooks import ado, github, reply

pytestmark = pytest.mark.usefixtures("env")


def training_push(n: int = 1) -> dict:
    return github_push([github_commit(n, modified=["training/features.py"])])


def test_a_signed_push_replayed_under_a_new_delivery_id_starts_one_run(storage, functions, model_name):
    payload = training_push()
    first, _ = github(functions, "push", payload)
    assert first.status_code == 202
    drain(storage, functions)
    replayed, _ = github(functions, "push", payload)  # a new X-GitHub-Delivery, the same signed body
    assert replayed.status_code == 200 and reply(replayed)["status"] == "duplicate push"
    assert reply(replayed)["run_id"] == reply(first)["run_id"]
    assert drain(storage, functions) == 0
    assert len(runs_of(storage, model_name)) == 1 and len(queued(storage, names.FETCH_QUEUE)) == 1


def test_replays_accepted_before_the_first_is_processed_still_start_one_run(storage, functions, model_name):
    payload = training_push()
    answers = [github(functions, "push", payload)[0] for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]  # none processed yet: all queued
    assert drain(storage, functions) == 3
    assert len(runs_of(storage, model_name)) == 1 and len(queued(storage, names.FETCH_QUEUE)) == 1


def test_another_commit_range_is_another_run(storage, functions, model_name):
    for payload in (training_push(1), training_push(2)):
        assert github(functions, "push", payload)[0].status_code == 202
    drain(storage, functions)
    assert len(runs_of(storage, model_name)) == 2


def test_an_ado_push_resent_with_a_new_id_starts_one_run(storage, functions, model_name):
    old, new = sha("range-old"), sha("range-new")
    assert ado(functions, ado_push(old=old, new=new)).status_code == 202
    drain(storage, functions)
    again = ado(functions, ado_push(old=old, new=new))  # new "id", same refUpdates old..new
    assert again.status_code == 200 and reply(again)["status"] == "duplicate push"
    assert ado(functions, ado_push(old=new, new=sha("range-next"))).status_code == 202
    drain(storage, functions)
    assert len(runs_of(storage, model_name)) == 2


def tamper(raw: bytes) -> bytes:
    return raw.replace(b"training/features.py", b"training/feature5.py")


@pytest.mark.parametrize("how", ["forged", "truncated", "tampered", "unsigned", "non-ascii signature",
                                 "signature of another secret prefix"])
def test_forged_truncated_and_tampered_github_deliveries_run_nothing(storage, functions, model_name, how):
    raw = body(training_push())
    signature = signatures.sign(GITHUB_SECRET, raw)
    sent, header = {
        "forged": (raw, signatures.sign("guessed-secret", raw)),
        "truncated": (raw[: len(raw) // 2], signature),
        "tampered": (tamper(raw), signature),
        "unsigned": (raw, ""),
        "non-ascii signature": (raw, "sha256=é" + signature[8:]),
        "signature of another secret prefix": (raw, signature[:-1]),
    }[how]
    response, _ = github(functions, "push", sent, signature=header)
    assert response.status_code == 401 and "error" in reply(response)
    assert drain(storage, functions) == 0 and not runs_of(storage, model_name)
    assert not list(storage.list(names.HOOKS))


def test_signatures_and_secrets_are_compared_in_constant_time(monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    from shared.events import webhooks

    raw = b"{}"
    assert signatures.verify("s", raw, signatures.sign("s", raw))
    assert webhooks.ado_authentic("s", {"X-Driftline-Secret": "s"})
    assert compared and all(kind is bytes for pair in compared for kind in pair)


def test_secrets_never_reach_the_log_or_a_repr(storage, functions, caplog, env):
    with caplog.at_level(logging.DEBUG):
        github(functions, "push", training_push())
        github(functions, "push", training_push(), secret="wrong")
        ado(functions, ado_push())
        ado(functions, ado_push(), password="wrong")
        ado(functions, ado_push(), password=ADO_SECRET + "x", header=True)
        drain(storage, functions)
    env(DRIFTLINE_NOTIFY_SECRET="notify-secret-value")
    text = "\n".join(record.getMessage() for record in caplog.records) + repr(context.settings())
    for secret in (GITHUB_SECRET, ADO_SECRET, "notify-secret-value"):
        assert secret not in text
    assert caplog.records


def test_a_replayed_delivery_id_with_another_body_is_refused_or_deduplicated(storage, functions, model_name):
    delivery = str(uuid.uuid4())
    assert github(functions, "push", training_push(1), delivery=delivery)[0].status_code == 202
    second, _ = github(functions, "push", training_push(2), delivery=delivery)
    assert second.status_code == 200 and reply(second)["status"] == "duplicate delivery"
    drain(storage, functions)
    assert len(runs_of(storage, model_name)) == 1

"""Bad messages on the step queues go to `<queue>-poison` with the reason; nothing else happens."""

from __future__ import annotations

import pytest
from azure.functions.queue import QueueMessage

from shared.platform import names
from shared.platform.messages import StepMessage
from tests.helpers.chain import poison_entries


@pytest.mark.parametrize("queue", [names.RETRAIN_QUEUE, names.REGISTER_QUEUE, names.TEST_QUEUE, names.DEPLOY_QUEUE])
def test_malformed_message_is_poisoned_with_the_reason(chain, queue, unique):
    body = f"not json {unique}"
    chain.deliver(queue, body)
    [entry] = poison_entries(chain, queue, body)
    assert "not JSON" in entry["reason"] and entry["queue"] == queue


def test_message_for_another_step_is_poisoned_and_its_run_failed(chain):
    run_id = chain.start([])
    body = chain.retrain_message(run_id)
    chain.deliver("deploy", body)
    [entry] = poison_entries(chain, names.DEPLOY_QUEUE, body)
    assert "arrived on the deploy queue" in entry["reason"]
    assert chain.run(run_id)["status"] == "failed"


def test_bad_model_name_is_poisoned(chain):
    message = StepMessage(run_id="r", step="retrain", model="../../x", trigger={"kind": "manual"}, reason="r")
    chain.deliver("retrain", message.to_json())
    [entry] = poison_entries(chain, names.RETRAIN_QUEUE, message.to_json())
    assert "not valid" in entry["reason"]


def test_message_for_an_unknown_run_is_poisoned_and_does_nothing(chain):
    message = StepMessage(run_id="missingrun", step="register", model=chain.model, trigger={"kind": "manual"},
                          reason="r")
    chain.deliver("register", message.to_json())
    [entry] = poison_entries(chain, names.REGISTER_QUEUE, message.to_json())
    assert entry["reason"] == "run missingrun does not exist; no register step can run for it."
    assert chain.take(names.TEST_QUEUE, "missingrun") == []


def flaky_fetch(chain, monkeypatch) -> tuple[str, str]:
    from shared.model import steps as model_steps

    def broken(storage, settings, message):
        raise TimeoutError("the code source did not answer")

    monkeypatch.setattr(model_steps, "fetch_step", broken)
    run_id = chain.start([])
    return run_id, chain.take(names.FETCH_QUEUE, run_id)[0]


def deliver(chain, body: str, dequeue_count: int) -> None:
    chain.functions["fetch"](QueueMessage(body=body.encode(), dequeue_count=dequeue_count))


def test_a_step_raising_before_its_last_delivery_propagates_for_the_host_to_retry(chain, monkeypatch):
    run_id, body = flaky_fetch(chain, monkeypatch)
    for count in range(1, 5):  # host.json maxDequeueCount is 5
        with pytest.raises(TimeoutError):
            deliver(chain, body, count)
    assert chain.run(run_id)["status"] == "running" and not chain.take(f"{names.FETCH_QUEUE}-poison")


def test_the_last_delivery_poisons_with_the_reason_on_the_run(chain, monkeypatch):
    run_id, body = flaky_fetch(chain, monkeypatch)
    deliver(chain, body, 5)
    [entry] = poison_entries(chain, names.FETCH_QUEUE, body)
    run = chain.run(run_id)
    assert entry["reason"] == run["steps"]["fetch"]["detail"] == (
        "step fetch raised TimeoutError: the code source did not answer on each of 5 deliveries of its message "
        "(maxDequeueCount 5); the message is in fetch-poison.")
    assert run["status"] == "failed" and run["steps"]["fetch"]["status"] == "failed"
    assert "TimeoutError: the code source did not answer" in run["steps"]["fetch"]["traceback"]
    assert run["steps"]["retrain"]["status"] == "skipped" and not chain.take(names.RETRAIN_QUEUE, run_id)


def test_max_dequeue_count_comes_from_host_json_or_its_app_setting(monkeypatch):
    import json

    from shared.platform import dequeue

    dequeue.max_dequeue_count.cache_clear()
    assert dequeue.max_dequeue_count() == json.loads(dequeue.HOST_JSON.read_text())["extensions"]["queues"]["maxDequeueCount"]
    monkeypatch.setenv(dequeue.OVERRIDE, "2")
    dequeue.max_dequeue_count.cache_clear()
    assert dequeue.max_dequeue_count() == 2 and dequeue.last_attempt(2) and not dequeue.last_attempt(1)
    assert not dequeue.last_attempt(None)
    monkeypatch.delenv(dequeue.OVERRIDE)
    dequeue.max_dequeue_count.cache_clear()

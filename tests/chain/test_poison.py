"""Bad messages on the step queues go to `<queue>-poison` with the reason; nothing else happens."""

from __future__ import annotations

import pytest

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


def test_message_for_an_unknown_run_does_nothing(chain):
    message = StepMessage(run_id="missing-run", step="register", model=chain.model, trigger={"kind": "manual"},
                          reason="r")
    chain.deliver("register", message.to_json())
    assert chain.take(names.TEST_QUEUE, "missing-run") == []

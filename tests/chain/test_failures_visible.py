"""Failures are visible: a failed step is logged at ERROR with the run id, the step and the reason
(the host logs the invocation "Succeeded", since a permanent failure must not be redelivered); the
user's traceback is kept on the step; the steps after a stopped run are marked skipped, none pending."""

from __future__ import annotations

import logging

import pandas as pd

from shared.platform import names
from shared.repo.train_runner import TrainingFailed, train_in_sandbox
from shared.serving import lookups
from tests.helpers.chain import principal

LATER = ("register", "test", "approve", "deploy")


def test_a_failed_retrain_is_logged_at_error_with_its_reason_and_keeps_the_traceback(chain, labeled_frame, caplog):
    chain.configure(training_entry_point="tests.helpers.entry_points:raises")
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    with caplog.at_level(logging.INFO):
        assert chain.pump(run_id) == ["fetch", "retrain"]
    [record] = [r for r in caplog.records if run_id in r.getMessage() and r.levelno >= logging.ERROR]
    assert record.getMessage() == (f"run {run_id} step retrain FAILED: the training entry point "
                                   "tests.helpers.entry_points:raises raised RuntimeError: the data scientist's code failed")
    run = chain.run(run_id)
    step = run["steps"]["retrain"]
    assert run["status"] == "failed" and step["status"] == "failed"
    assert 'entry_points.py", line' in step["traceback"] and "in raises" in step["traceback"]
    timeline = lookups.run_timeline(chain.storage, run_id)
    assert [s["traceback"] for s in timeline["steps"] if s["step"] == "retrain"] == [step["traceback"]]


def test_the_steps_after_a_stopped_run_are_skipped_not_pending(chain, labeled_frame):
    chain.configure(training_entry_point="tests.helpers.entry_points:raises")
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    chain.pump(run_id)
    steps = chain.run(run_id)["steps"]
    assert {name: steps[name]["status"] for name in LATER} == dict.fromkeys(LATER, "skipped")
    assert steps["deploy"]["detail"] == "not run: the run failed at retrain"
    timeline = lookups.run_timeline(chain.storage, run_id)
    assert "pending" not in [s["status"] for s in timeline["steps"]]


def test_a_poisoned_message_skips_every_step_not_begun(chain):
    run_id = chain.start([])
    chain.take(names.FETCH_QUEUE, run_id)
    chain.deliver(names.FETCH_QUEUE, f'{{"schema": "driftline.step/1", "run_id": "{run_id}", "step": "retrain"}}')
    run = chain.run(run_id)
    assert run["status"] == "failed"
    assert {s["status"] for s in run["steps"].values()} == {"skipped"} and set(run["steps"]) == set(run["steps_planned"])


def test_a_rejected_approval_skips_deploy(chain, labeled_frame, quick_retrain):
    chain.require_approval()
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    quick_retrain(run_id)
    chain.pump(run_id)
    assert chain.run(run_id)["status"] == "waiting"
    response = chain.http("reject_run", f"runs/{run_id}/reject", {"reason": "not now"}, run_id=run_id,
                          headers=principal("bob@contoso.com"))
    assert response.status_code == 200
    deploy = chain.run(run_id)["steps"]["deploy"]
    assert deploy["status"] == "skipped" and deploy["detail"] == "not run: the run was rejected at approve"


def test_sandboxed_user_code_keeps_its_traceback(tmp_path):
    (tmp_path / "broken.py").write_text("def helper(frame):\n    return frame['nope']\n\n\n"
                                        "def train(frame, params):\n    return helper(frame)\n")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": [0, 1, 0, 1]})
    try:
        train_in_sandbox(tmp_path, entry_point="broken:train", params={}, inference=None,
                         train=frame, holdout_features=frame[["x"]])
    except TrainingFailed as error:
        assert str(error) == "the training entry point broken:train raised KeyError: 'nope'"
        assert 'broken.py", line 6, in train' in error.traceback and 'line 2, in helper' in error.traceback
    else:
        raise AssertionError("training should have failed")

"""Poison paths, on every queue a trigger reads (the six step queues, notify and push), each through
the app's own queue function with the dequeue count the host gives it:
- a body that cannot be parsed;
- a valid envelope that names nothing: a run (a step, a notification) or a delivery (push) that does
  not exist;
- a message whose handling keeps raising: deliveries 1 to maxDequeueCount-1 must raise (the host
  retries them), the last must return, having put the body in `<queue>-poison` with the error.
Each must end in `<queue>-poison` with its reason; when the message names a run, the reason must be
on the run too (a step: the run failed at that step with the reason and a traceback, the steps after
it skipped; a notification: an event, the run's outcome unchanged), and nothing else may run after it.
A message that vanishes without a poison entry, or a reason that is nowhere, counts as lost; an
exception on the last delivery (the host would copy the message to the poison queue with no reason)
counts as unhandled."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import azure.functions as func
from azure.functions.queue import QueueMessage
import pytest

from shared.chain import notify
from shared.events import intake
from shared.model import steps as model_steps
from shared.platform import dequeue, names, signatures
from shared.platform.messages import StepMessage
from tests.chain.conftest import push, repo, trained_files  # noqa: F401  (a git repository, one real retrain)
from tests.chain.test_notify import Receiver
from tests.helpers import queues
from tests.helpers.chain import STEP_QUEUES, poison_entries, stage_retrain
from tests.helpers.event_data import body as json_body
from tests.helpers.event_data import github_commit, github_push

STEP_OF_QUEUE = {queue: queue.replace("-", "_") for queue in STEP_QUEUES}
SECRET = "poison-paths-secret"


def deliver(chain, function: str, body: str, dequeue_count: int) -> None:
    chain.functions[function](QueueMessage(id=uuid.uuid4().hex, body=body.encode(), dequeue_count=dequeue_count))


def until_poisoned(tally, chain, label: str, function: str, body: str) -> bool:
    """Deliver as the host does to a message that keeps failing; True when every delivery behaved."""
    last = dequeue.max_dequeue_count()
    for count in range(1, last + 1):
        try:
            deliver(chain, function, body, count)
        except Exception as error:
            if count == last:
                tally.case(label, f"the last delivery raised {type(error).__name__}: {error}; the host would "
                                  "poison it with no reason", "unhandled")
                return False
            continue
        if count < last:
            tally.case(label, f"delivery {count} of {last} returned: the host deletes it, no retry, no reason",
                       "lost")
            return False
    return True


def check_entry(tally, chain, label: str, queue: str, body: str, expect: str) -> None:
    entries = poison_entries(chain, queue, body)
    if len(entries) != 1 or expect not in entries[0]["reason"]:
        tally.case(f"{label}: poison entry", f"{len(entries)} entries in {queue}-poison, reasons "
                                             f"{[e['reason'][:120] for e in entries]}, expected one with {expect!r}",
                   "lost")
    else:
        tally.case(f"{label}: poison entry")


def nothing_else_ran(tally, chain, label: str, run_id: str | None) -> None:
    left = {queue: chain.take(queue, run_id) for queue in STEP_QUEUES} if run_id else {}
    left = {queue: bodies for queue, bodies in left.items() if bodies}
    tally.case(f"{label}: nothing after it", f"messages sent after it: {sorted(left)}" if left else None,
               "duplicates")


def step_message_at(chain, step: str, files: dict[str, bytes], start_push: Callable[[str], str],
                    labeled_frame) -> tuple[str, str]:
    """A run driven through its real earlier steps up to `step`; returns (run id, that step's message)."""
    if step == "unit_test":  # only push plans test the repository's code
        run_id = start_push("app")
        chain.deliver(names.FETCH_QUEUE, chain.take(names.FETCH_QUEUE, run_id)[0])
        return run_id, chain.take(names.UNIT_TEST_QUEUE, run_id)[0]
    run_id = chain.start([chain.upload(labeled_frame, f"{step}.csv")])
    if step == "fetch":
        return run_id, chain.take(names.FETCH_QUEUE, run_id)[0]
    if step == "retrain":
        return run_id, chain.retrain_message(run_id)
    stage_retrain(chain, run_id, files)
    for queue in (names.REGISTER_QUEUE, names.TEST_QUEUE, names.DEPLOY_QUEUE):
        [body] = chain.take(queue, run_id)
        if STEP_OF_QUEUE[queue] == step:
            return run_id, body
        chain.deliver(queue, body)
    raise AssertionError(f"no {step} message for run {run_id}")


@pytest.fixture
def poison_chain(chain):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1")
    for queue in (*STEP_QUEUES, names.NOTIFY_QUEUE, names.PUSH_QUEUE):
        queues.clear(chain.storage, f"{queue}-poison")
    return chain


def test_bad_step_messages_on_every_step_queue_are_poisoned_with_the_reason(poison_chain, tally):
    chain = poison_chain
    for queue, step in STEP_OF_QUEUE.items():
        body = "{not json at all"
        try:
            deliver(chain, step, body, 1)
        except Exception as error:
            tally.case(f"{queue}: unparseable", f"{type(error).__name__}: {error}", "unhandled")
        else:
            check_entry(tally, chain, f"{queue}: unparseable", queue, body, "not JSON")
        unknown = uuid.uuid4().hex
        body = StepMessage(run_id=unknown, step=step, model=chain.model, trigger={"kind": "manual"},
                           reason="a run nobody started").to_json()
        try:
            deliver(chain, step, body, 1)
        except Exception as error:
            tally.case(f"{queue}: unknown run", f"{type(error).__name__}: {error}", "unhandled")
        else:
            check_entry(tally, chain, f"{queue}: unknown run", queue, body, f"run {unknown} does not exist")
            nothing_else_ran(tally, chain, f"{queue}: unknown run", unknown)
    tally.assert_clean()


def test_a_step_that_keeps_raising_ends_its_run_failed_with_the_reason(poison_chain, labeled_frame, trained_files,  # noqa: F811
                                                                       push, monkeypatch, tally):  # noqa: F811
    chain = poison_chain
    for queue, step in STEP_OF_QUEUE.items():
        label = f"{queue}: keeps raising"
        run_id, body = step_message_at(chain, step, trained_files, push, labeled_frame)
        fault = f"injected fault in {step}: the storage account is unreachable"

        def broken(storage, settings, message, fault=fault):
            raise ConnectionError(fault)

        with monkeypatch.context() as patched:
            patched.setattr(model_steps, f"{step}_step", broken)
            if not until_poisoned(tally, chain, label, step, body):
                continue
        check_entry(tally, chain, label, queue, body, fault)
        run = chain.run(run_id)
        entry = run["steps"].get(step, {})
        planned = run["steps_planned"]
        later = {name: run["steps"].get(name, {}).get("status") for name in planned[planned.index(step) + 1:]}
        if run["status"] != "failed" or entry.get("status") != "failed" or fault not in entry.get("detail", ""):
            tally.case(f"{label}: on the run", f"run {run['status']}, step {entry.get('status')}: "
                                               f"{entry.get('detail', '')[:120]!r}", "lost")
        elif "ConnectionError" not in entry.get("traceback", "") or set(later.values()) - {"skipped"}:
            tally.case(f"{label}: on the run", f"traceback kept: {'traceback' in entry}, later steps {later}", "lost")
        else:
            tally.case(f"{label}: on the run")
        failed = [n for n in chain.notifications() if n["event"] == "run.failed" and n["run_id"] == run_id]
        tally.case(f"{label}: run.failed sent", None if len(failed) == 1 else f"{len(failed)} run.failed", "lost")
        nothing_else_ran(tally, chain, label, run_id)
    tally.assert_clean()


def test_notify_poison_paths(poison_chain, tally):
    chain = poison_chain
    with Receiver(status=503) as receiver:
        chain.configure(notify_url=receiver.url, notify_secret=SECRET)
        for label, body, expect in [
            ("notify: unparseable", "{not json", "not JSON"),
            ("notify: unknown run", notify.make("run.failed", model=chain.model, run_id="abc123missing").to_json(),
             "names run abc123missing, which does not exist"),
        ]:
            try:
                deliver(chain, "notify", body, 1)
            except Exception as error:
                tally.case(label, f"{type(error).__name__}: {error}", "unhandled")
                continue
            check_entry(tally, chain, label, names.NOTIFY_QUEUE, body, expect)
        tally.case("notify: nothing sent for them", f"{len(receiver.received)} POSTs" if receiver.received else None,
                   "forged_accepted")
        run_id = chain.start([])
        chain.take(names.FETCH_QUEUE, run_id)
        body = notify.make("run.failed", model=chain.model, run_id=run_id).to_json()
        if until_poisoned(tally, chain, "notify: receiver keeps failing", "notify", body):
            check_entry(tally, chain, "notify: receiver keeps failing", names.NOTIFY_QUEUE, body, "answered 503")
            run = chain.run(run_id)
            noted = [e for e in run["events"] if "not delivered" in e["detail"] and "503" in e["detail"]]
            tally.case("notify: reason on the run", None if len(noted) == 1 and run["status"] == "running"
                       else f"{len(noted)} events, run {run['status']}", "lost")
    tally.assert_clean()


def test_push_poison_paths(poison_chain, functions, monkeypatch, tally):
    chain = poison_chain
    monkeypatch.setenv("DRIFTLINE_GITHUB_SECRET", SECRET)
    chain.configure()
    for label, body, expect in [
        ("push: unparseable", "{not json", "must be JSON"),
        ("push: unknown delivery", json.dumps({"provider": "github", "delivery": "never-received"}),
         "no record of github delivery never-received"),
    ]:
        try:
            deliver(chain, "on_push", body, 1)
        except Exception as error:
            tally.case(label, f"{type(error).__name__}: {error}", "unhandled")
            continue
        check_entry(tally, chain, label, names.PUSH_QUEUE, body, expect)
    payload = json_body(github_push([github_commit(1, modified=["training/a.py"])]))
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "poison-push-1", "Content-Type": "application/json",
               "X-Hub-Signature-256": signatures.sign(SECRET, payload)}
    answer = functions["hooks_github"](func.HttpRequest("POST", "http://localhost/api/hooks/github",
                                                        headers=headers, body=payload))
    assert answer.status_code == 202, answer.get_body()
    [body] = queues.take(chain.storage, names.PUSH_QUEUE)
    fault = "injected fault: the routing step cannot reach storage"

    def broken(storage, settings, event):
        raise ConnectionError(fault)

    monkeypatch.setattr(intake, "_start", broken)
    if until_poisoned(tally, chain, "push: keeps raising", "on_push", body):
        check_entry(tally, chain, "push: keeps raising", names.PUSH_QUEUE, body, fault)
        record = chain.storage.read_json(names.HOOKS, intake.record_name("github", "poison-push-1")).value
        run = chain.storage.read_json(names.RUNS, f"{record['run_id']}.json")
        tally.case("push: reason on its delivery record", None if record["state"] == "poisoned" and fault in
                   record.get("reason", "") and run is None else f"record {record['state']}, run {run}", "lost")
    tally.assert_clean()

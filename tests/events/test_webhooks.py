"""Repository webhooks end to end through the app's functions on MemoryStorage: HTTP delivery, the
push queue, run records and the chain's queues."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import azure.functions as func
import pytest

from shared.chain import runs
from shared.events import ci_wait, intake
from shared.platform import names, signatures
from tests.helpers import queues
from tests.helpers.event_data import (
    ADO_SECRET,
    GITHUB_SECRET,
    ado_build,
    ado_push,
    body,
    github_check_suite,
    github_commit,
    github_push,
    github_workflow_run,
    sha,
)
from tests.helpers.events import drain, messages_for, queued

pytestmark = pytest.mark.usefixtures("env")


def github(functions, event: str, payload: dict | bytes, *, delivery: str | None = None,
           secret: str | None = GITHUB_SECRET, signature: str | None = None) -> tuple[func.HttpResponse, str]:
    raw = payload if isinstance(payload, bytes) else body(payload)
    delivery = delivery or str(uuid.uuid4())
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
               "User-Agent": "GitHub-Hookshot/abc"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = signatures.sign(secret, raw)
    request = func.HttpRequest("POST", "http://localhost/api/hooks/github", headers=headers, body=raw)
    return functions["hooks_github"](request), delivery


def ado(functions, payload: dict, *, password: str | None = ADO_SECRET, header: bool = False) -> func.HttpResponse:
    headers = {"Content-Type": "application/json"}
    if password is not None and header:
        headers["X-Driftline-Secret"] = password
    elif password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"driftline:{password}".encode()).decode()
    request = func.HttpRequest("POST", "http://localhost/api/hooks/azure-devops", headers=headers, body=body(payload))
    return functions["hooks_azure_devops"](request)


def reply(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def push_run(storage, provider: str, delivery: str) -> dict | None:
    """The run of a delivery's push (its id, derived from the pushed content, is on the delivery's record)."""
    record = storage.read_json(names.HOOKS, intake.record_name(provider, delivery))
    return None if record is None else runs.get_run(storage, record.value["run_id"])


def test_training_push_starts_a_full_run(storage, functions):
    payload = github_push([github_commit(1, modified=["functions/api.py"]),
                           github_commit(2, added=["training/features.py"], removed=["docs/x.md"])])
    response, delivery = github(functions, "push", payload)
    assert response.status_code == 202 and reply(response)["status"] == "accepted"
    assert push_run(storage, "github", delivery) is None  # nothing runs inside the HTTP call
    assert drain(storage, functions) == 1
    run = push_run(storage, "github", delivery)
    assert run["plan"] == "training" and run["status"] == "running"
    assert (reply(response)["run_id"], reply(response)["run"]) == (run["run_id"], f"/api/runs/{run['run_id']}")
    assert "training code changed: training/features.py" in run["reason"]
    assert run["trigger"] == {"kind": "push", "provider": "github", "repository": "acme/shop", "branch": "main",
                              "commit": sha("commit-2"), "delivery": delivery}
    assert len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1
    record = storage.read_json(names.HOOKS, intake.record_name("github", delivery)).value
    assert record["state"] == "processed" and record["outcome"]["action"] == "started"


def test_a_push_run_continues_the_trace_of_its_delivery(storage, functions):
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    raw = body(github_push([github_commit(1, modified=["training/a.py"])]))
    request = func.HttpRequest("POST", "http://localhost/api/hooks/github", body=raw, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "traced", "traceparent": caller,
        "X-Hub-Signature-256": signatures.sign(GITHUB_SECRET, raw)})
    assert functions["hooks_github"](request).status_code == 202
    assert [json.loads(m)["trace"] for m in queues.peek(storage, names.PUSH_QUEUE)] == [caller]
    drain(storage, functions)
    assert push_run(storage, "github", "traced")["trace"].split("-")[1] == caller.split("-")[1]


def test_app_push_starts_test_and_deploy(storage, functions):
    response, delivery = github(functions, "push", github_push([github_commit(1, modified=["shared/serving/scoring.py"])]))
    drain(storage, functions)
    run = push_run(storage, "github", delivery)
    assert run["plan"] == "app" and run["steps_planned"] == ["fetch", "unit_test", "test", "approve", "deploy"]
    assert len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1
    assert queued(storage, names.RETRAIN_QUEUE) == [] and queued(storage, names.TEST_QUEUE) == []


def test_docs_push_runs_nothing(storage, functions):
    response, delivery = github(functions, "push", github_push([github_commit(1, modified=["docs/a.md", "README.md"])]))
    assert response.status_code == 202
    drain(storage, functions)
    assert push_run(storage, "github", delivery) is None
    record = storage.read_json(names.HOOKS, intake.record_name("github", delivery)).value
    assert record["outcome"]["action"] == "nothing" and "only ignored paths" in record["outcome"]["detail"]
    assert all(queued(storage, q) == [] for q in (names.FETCH_QUEUE, names.RETRAIN_QUEUE, names.TEST_QUEUE))


def test_truncated_push_runs_the_full_chain_and_says_why(storage, functions):
    commits = [github_commit(i, modified=["docs/a.md"]) for i in range(20)]
    response, delivery = github(functions, "push", github_push(commits))
    drain(storage, functions)
    run = push_run(storage, "github", delivery)
    assert run["plan"] == "training" and "lists 20 commits" in run["reason"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"signature": "sha256=" + "0" * 64}, "does not match"),
        ({"secret": "not-the-secret"}, "does not match"),
        ({"secret": None}, "missing"),
    ],
)
def test_forged_or_unsigned_deliveries_run_nothing(storage, functions, kwargs, error):
    payload = github_push([github_commit(1, modified=["training/a.py"])])
    response, delivery = github(functions, "push", payload, **kwargs)
    assert response.status_code == 401 and error in reply(response)["error"]
    assert not storage.exists(names.HOOKS, intake.record_name("github", delivery))
    assert queued(storage, names.PUSH_QUEUE) == []


def test_signature_over_a_different_body_is_refused(storage, functions):
    signed = body(github_push([github_commit(1, modified=["docs/a.md"])]))
    tampered = body(github_push([github_commit(1, modified=["training/a.py"])]))
    response, _ = github(functions, "push", tampered, signature=signatures.sign(GITHUB_SECRET, signed))
    assert response.status_code == 401 and queued(storage, names.PUSH_QUEUE) == []


def test_without_a_configured_secret_every_delivery_is_refused(storage, functions, env):
    env(DRIFTLINE_GITHUB_SECRET="")
    response, _ = github(functions, "push", github_push([github_commit(1)]), secret="")
    assert response.status_code == 401 and "DRIFTLINE_GITHUB_SECRET" in reply(response)["error"]


def test_replayed_delivery_runs_nothing_twice(storage, functions):
    payload = github_push([github_commit(1, modified=["training/a.py"])])
    first, delivery = github(functions, "push", payload)
    again, _ = github(functions, "push", payload, delivery=delivery)
    assert (first.status_code, again.status_code) == (202, 200)
    assert reply(again)["status"] == "duplicate delivery"
    drain(storage, functions)
    later, _ = github(functions, "push", payload, delivery=delivery)
    assert reply(later)["status"] == "duplicate delivery"
    drain(storage, functions)
    run = push_run(storage, "github", delivery)
    assert len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1
    assert len(run["events"]) == 1


def test_redelivery_resends_a_lost_queue_message(storage, functions):
    payload = github_push([github_commit(1, modified=["functions/api.py"])])
    _, delivery = github(functions, "push", payload)
    queues.clear(storage, names.PUSH_QUEUE)  # the message was lost after the record was made
    github(functions, "push", payload, delivery=delivery)
    assert drain(storage, functions) == 1
    assert push_run(storage, "github", delivery)["plan"] == "app"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (github_push([github_commit(1, modified=["training/a.py"])], ref="refs/tags/v2"), "tag push"),
        (github_push([], deleted=True, after="0" * 40), "branch deletion"),
        (github_push([github_commit(1, modified=["training/a.py"])], ref="refs/heads/dev"), "not watched"),
    ],
)
def test_tags_deletions_and_other_branches_are_answered_and_ignored(storage, functions, payload, reason):
    response, delivery = github(functions, "push", payload)
    assert response.status_code == 200
    assert reply(response)["status"] == "ignored" and reason in reply(response)["reason"]
    assert queued(storage, names.PUSH_QUEUE) == []


def test_ping_oversize_and_bad_json(storage, functions, env):
    assert github(functions, "ping", {"zen": "Keep it logically awesome."})[0].status_code == 200
    env(DRIFTLINE_WEBHOOK_MAX_BYTES="1024")
    big = github_push([github_commit(i, modified=[f"training/{i}.py"]) for i in range(10)])
    assert github(functions, "push", big)[0].status_code == 413
    bad = github(functions, "push", b"not json")[0]
    assert bad.status_code == 400 and "must be JSON" in reply(bad)["error"]
    assert queued(storage, names.PUSH_QUEUE) == []


def test_ado_push_runs_the_full_chain_because_files_are_not_listed(storage, functions):
    payload = ado_push()
    response = ado(functions, payload)
    assert response.status_code == 202
    drain(storage, functions)
    run = push_run(storage, "azure-devops", payload["id"])
    assert run["plan"] == "training" and "do not list changed files" in run["reason"]
    assert ado(functions, payload, header=True).status_code == 200  # same id: duplicate, by header auth


def test_ado_wrong_secret_and_stale_deliveries_are_refused(storage, functions):
    assert ado(functions, ado_push(), password="guess").status_code == 401
    assert ado(functions, ado_push(), password=None).status_code == 401
    stale = ado(functions, ado_push(created=datetime.now(timezone.utc) - timedelta(hours=1)))
    assert stale.status_code == 400 and "DRIFTLINE_WEBHOOK_MAX_AGE_SECONDS" in reply(stale)["error"]
    assert queued(storage, names.PUSH_QUEUE) == []


def test_broken_routing_file_poisons_the_push_with_the_reason(storage, functions, env, tmp_path):
    broken = tmp_path / "routing.toml"
    broken.write_text("[training\n")
    env(DRIFTLINE_ROUTING_FILE=str(broken))
    queues.clear(storage, names.PUSH_QUEUE + "-poison")
    _, delivery = github(functions, "push", github_push([github_commit(1, modified=["training/a.py"])]))
    drain(storage, functions)
    assert push_run(storage, "github", delivery) is None
    [poisoned] = queued(storage, names.PUSH_QUEUE + "-poison")
    assert str(broken) in poisoned["reason"] and "not valid TOML" in poisoned["reason"]


class TestWaitingForCi:
    @pytest.fixture(autouse=True)
    def wait(self, env):
        env(DRIFTLINE_WAIT_FOR_CI="true")

    def push(self, storage, functions, commit: int) -> dict:
        payload = github_push([github_commit(commit, modified=["functions/api.py"])])
        _, delivery = github(functions, "push", payload)
        drain(storage, functions)
        return push_run(storage, "github", delivery)

    def test_success_releases_the_waiting_run(self, storage, functions, unique):
        run = self.push(storage, functions, commit=hash(unique) % 10_000)
        assert run["status"] == "waiting" and messages_for(storage, names.FETCH_QUEUE, run["run_id"]) == []
        head = run["trigger"]["commit"]
        assert storage.read_json(names.HOOKS, ci_wait.index_name(head)).value["runs"] == [run["run_id"]]
        github(functions, "workflow_run", github_workflow_run(head, "in_progress", action="requested"))
        drain(storage, functions)
        assert runs.get_run(storage, run["run_id"])["status"] == "waiting"
        github(functions, "workflow_run", github_workflow_run(head, "success"))
        drain(storage, functions)
        released = runs.get_run(storage, run["run_id"])
        assert released["status"] == "running" and "CI passed" in released["events"][-1]["detail"]
        assert len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1

    def test_failure_skips_the_run_with_the_reason(self, storage, functions, unique):
        run = self.push(storage, functions, commit=hash(unique) % 10_000 + 20_000)
        github(functions, "check_suite", github_check_suite(run["trigger"]["commit"], "failure"))
        drain(storage, functions)
        skipped = runs.get_run(storage, run["run_id"])
        assert skipped["status"] == "skipped" and "CI failed" in skipped["events"][-1]["detail"]
        assert queued(storage, names.FETCH_QUEUE) == []

    def test_ci_reporting_before_the_push_is_processed_releases_at_once(self, storage, functions, unique):
        payload = github_push([github_commit(hash(unique) % 10_000 + 40_000, modified=["training/a.py"])])
        github(functions, "workflow_run", github_workflow_run(payload["after"], "success"))
        drain(storage, functions)
        _, delivery = github(functions, "push", payload)
        drain(storage, functions)
        run = push_run(storage, "github", delivery)
        assert run["status"] == "running" and len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1

    def test_ado_build_complete_releases(self, storage, functions, unique):
        payload = ado_push(new=sha(f"ado-ci-{unique}"))
        ado(functions, payload)
        drain(storage, functions)
        run = push_run(storage, "azure-devops", payload["id"])
        assert run["status"] == "waiting"
        ado(functions, ado_build(payload["resource"]["refUpdates"][0]["newObjectId"], "succeeded"))
        drain(storage, functions)
        assert runs.get_run(storage, run["run_id"])["status"] == "running"

    def test_named_checks_must_all_pass(self, storage, functions, env, unique):
        env(DRIFTLINE_CI_CHECKS="CI,lint")
        run = self.push(storage, functions, commit=hash(unique) % 10_000 + 60_000)
        head = run["trigger"]["commit"]
        github(functions, "workflow_run", github_workflow_run(head, "success", name="CI"))
        github(functions, "workflow_run", github_workflow_run(head, "failure", name="docs-preview"))
        drain(storage, functions)
        assert runs.get_run(storage, run["run_id"])["status"] == "waiting"
        github(functions, "workflow_run", github_workflow_run(head, "success", name="lint"))
        drain(storage, functions)
        assert runs.get_run(storage, run["run_id"])["status"] == "running"

"""Payload parsing and authentication of repository webhooks (pure: no storage, no network)."""

from __future__ import annotations

import base64

import pytest

from shared.events import webhooks
from shared.events.webhooks import CiOutcome, Ignored, PayloadError, Push
from shared.platform import signatures
from tests.helpers.event_data import (
    ado_build,
    ado_push,
    github_check_suite,
    github_commit,
    github_push,
    github_workflow_run,
    sha,
)

BRANCHES = ("main",)


def test_github_push_lists_added_modified_and_removed_files_of_every_commit():
    payload = github_push([
        github_commit(1, added=["training/new.py"], modified=["functions/api.py"]),
        github_commit(2, removed=["docs/old.md"], modified=["functions/api.py"]),
        github_commit(3, added=["README.md"]),
    ])
    push = webhooks.parse_github("push", "d-1", payload, BRANCHES)
    assert isinstance(push, Push)
    assert push.changed == ("README.md", "docs/old.md", "functions/api.py", "training/new.py")
    assert push.branch == "main" and push.after == sha("commit-3") and push.repository == "acme/shop"
    assert len(push.commits) == 3


def test_github_tag_push_and_branch_deletion_are_ignored_with_a_reason():
    tag = webhooks.parse_github("push", "d", github_push([github_commit(1)], ref="refs/tags/v1.2"), BRANCHES)
    deleted = webhooks.parse_github("push", "d", github_push([], deleted=True, after="0" * 40), BRANCHES)
    assert isinstance(tag, Ignored) and "tag push 'v1.2'" in tag.reason
    assert isinstance(deleted, Ignored) and "branch deletion" in deleted.reason


def test_github_push_to_an_unwatched_branch_is_ignored():
    ignored = webhooks.parse_github("push", "d", github_push([github_commit(1)], ref="refs/heads/feature/x"), BRANCHES)
    assert isinstance(ignored, Ignored) and "'feature/x' is not watched" in ignored.reason


@pytest.mark.parametrize(
    ("commits", "why"),
    [
        ([github_commit(i, modified=["docs/a.md"]) for i in range(20)], "20 commits"),
        ([], "no commits"),
    ],
)
def test_github_push_whose_files_cannot_be_listed_is_unlisted(commits, why):
    push = webhooks.parse_github("push", "d", github_push(commits, after=sha("x")), BRANCHES)
    assert push.changed is None and why in push.unlisted


def test_github_ci_events():
    run = webhooks.parse_github("workflow_run", "d", github_workflow_run("abc", "success"), BRANCHES)
    failed = webhooks.parse_github("check_suite", "d", github_check_suite("abc", "failure"), BRANCHES)
    neutral = webhooks.parse_github("workflow_run", "d", github_workflow_run("abc", "neutral"), BRANCHES)
    started = webhooks.parse_github("workflow_run", "d", github_workflow_run("abc", "", action="requested"), BRANCHES)
    assert run == CiOutcome("github", "d", "acme/shop", "abc", "CI", "success", True)
    assert failed.success is False and failed.check == "GitHub Actions"
    assert neutral.success is None
    assert isinstance(started, Ignored)


def test_github_events_not_used_are_ignored_and_bad_payloads_named():
    assert isinstance(webhooks.parse_github("issues", "d", {}, BRANCHES), Ignored)
    with pytest.raises(PayloadError, match="'ref'"):
        webhooks.parse_github("push", "d", {"commits": []}, BRANCHES)


def test_ado_push_never_lists_files():
    event, delivery, created = webhooks.ado_delivery(ado_push(delivery="abc-1"))
    push = webhooks.parse_ado(event, delivery, ado_push(), BRANCHES)
    assert (event, delivery) == ("git.push", "abc-1") and created.tzinfo is not None
    assert push.changed is None and "do not list changed files" in push.unlisted
    assert push.after == sha("ado-new") and push.branch == "main" and len(push.commits) == 2


def test_ado_tag_only_deletion_and_other_branch_are_ignored():
    tags = ado_push()
    tags["resource"]["refUpdates"][0]["name"] = "refs/tags/v1"
    assert "tags only" in webhooks.parse_ado("git.push", "d", tags, BRANCHES).reason
    deletion = ado_push(new="0" * 40)
    assert "deletion" in webhooks.parse_ado("git.push", "d", deletion, BRANCHES).reason
    assert "not watched" in webhooks.parse_ado("git.push", "d", ado_push(branch="dev"), BRANCHES).reason


def test_ado_build_complete_both_resource_versions():
    new = webhooks.parse_ado("build.complete", "d", ado_build("abc", "succeeded"), BRANCHES)
    old = ado_build("x", "failed")
    old["resource"] = {"status": "failed", "sourceGetVersion": "LG:refs/heads/main:def",
                       "definition": {"name": "ci"}}
    assert new.success is True and new.sha == "abc" and new.check == "shop-ci"
    parsed = webhooks.parse_ado("build.complete", "d", old, BRANCHES)
    assert parsed.success is False and parsed.sha == "def"


def test_github_signature():
    body = b'{"zen": "yes"}'
    assert webhooks.github_authentic("s", body, {"X-Hub-Signature-256": signatures.sign("s", body)})
    assert webhooks.github_authentic("s", body, {"x-hub-signature-256": signatures.sign("s", body)})
    assert not webhooks.github_authentic("s", body, {"X-Hub-Signature-256": signatures.sign("t", body)})
    assert not webhooks.github_authentic("s", body, {})
    assert not webhooks.github_authentic(None, body, {"X-Hub-Signature-256": signatures.sign("", body)})


def test_ado_secret_by_basic_auth_or_header():
    def basic(user_password: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(user_password.encode()).decode()}

    assert webhooks.ado_authentic("s3", basic("anyone:s3"))
    assert webhooks.ado_authentic("s3", {"X-Driftline-Secret": "s3"})
    assert not webhooks.ado_authentic("s3", basic("anyone:nope"))
    assert not webhooks.ado_authentic("s3", basic("s3"))
    assert not webhooks.ado_authentic("s3", {"Authorization": "Basic !!!"})
    assert not webhooks.ado_authentic("s3", {})
    assert not webhooks.ado_authentic(None, {"X-Driftline-Secret": ""})

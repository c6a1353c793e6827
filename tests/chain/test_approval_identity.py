"""Approvals bound to an identity: the approver is who App Service authentication says (X-MS-CLIENT-PRINCIPAL)
or whom a one-time signed link from approval.requested names; allowed approvers are a setting; a claimed
`by` is never recorded. No identity: 401; an identity not allowed: 403; the run keeps waiting either way."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.chain import approvals, approvers
from shared.jobs import startup
from shared.platform import context, names
from shared.platform.errors import SettingsError
from tests.helpers.chain import principal

ALICE = principal("alice@contoso.com")


@pytest.fixture
def waiting(chain, quick_retrain) -> str:
    chain.require_approval()
    run_id = chain.start([])
    quick_retrain(run_id)
    chain.pump(run_id)
    assert chain.run(run_id)["status"] == "waiting"
    return run_id


def decide(chain, run_id: str, action: str = "approve", *, headers=None, token: str | None = None, body=None):
    response = chain.http(f"{action}_run", f"runs/{run_id}/{action}", body or {"reason": "checked"}, run_id=run_id,
                          headers=headers, query={"token": token} if token else None)
    return response.status_code, json.loads(response.get_body())


def link_token(chain, run_id: str, who: str, action: str) -> str:
    [requested] = [n for n in chain.notifications() if n["event"] == "approval.requested" and n["run_id"] == run_id]
    url = requested["data"]["links"][who][action]
    assert urlsplit(url).path == f"/api/runs/{run_id}/{action}"
    return parse_qs(urlsplit(url).query)["token"][0]


def test_a_claimed_name_without_an_identity_decides_nothing(chain, waiting):
    status, body = decide(chain, waiting, body={"by": "alice@contoso.com", "reason": "trust me"})
    assert status == 401 and "authenticated approver" in body["error"]
    assert chain.run(waiting)["status"] == "waiting"


def test_principal_headers_are_ignored_unless_app_service_authentication_is_trusted(chain, waiting):
    chain.configure(trust_app_service_auth="false")
    assert decide(chain, waiting, headers=ALICE)[0] == 401  # anyone can send the headers without Easy Auth
    assert chain.run(waiting)["status"] == "waiting"


def test_an_identity_not_in_the_approvers_is_forbidden(chain, waiting):
    status, body = decide(chain, waiting, headers=principal("mallory@contoso.com"))
    assert status == 403 and "mallory@contoso.com is not an allowed approver" in body["error"]
    assert chain.run(waiting)["status"] == "waiting"


def test_approvers_match_by_object_id_too(chain, waiting):
    chain.configure(approvers="11111111-2222-3333-4444-555555555555")
    status, body = decide(chain, waiting, headers=principal("carol@contoso.com", "11111111-2222-3333-4444-555555555555"))
    assert status == 200 and body["by"] == "carol@contoso.com" and body["identity"]["source"] == "app-service:aad"


@pytest.mark.parametrize("header", ["not base64 !!", base64.b64encode(b"not json").decode(),
                                    base64.b64encode(b'{"claims": []}').decode()])
def test_a_malformed_principal_is_401(chain, waiting, header):
    assert decide(chain, waiting, headers={"X-MS-CLIENT-PRINCIPAL": header})[0] == 401


def test_without_an_approver_list_any_authenticated_identity_may_decide_but_no_link_is_made(chain, quick_retrain):
    chain.configure(approval_required="true", trust_app_service_auth="true")
    run_id = chain.start([])
    quick_retrain(run_id)
    chain.pump(run_id)
    [requested] = [n for n in chain.notifications() if n["event"] == "approval.requested"]
    assert requested["data"]["links"] == {}
    status, body = decide(chain, run_id, "reject", headers=principal("dan@contoso.com"))
    assert status == 200 and chain.run(run_id)["steps"]["approve"]["by"] == "dan@contoso.com"


def test_a_signed_link_decides_once_as_the_approver_it_names(chain, waiting):
    token = link_token(chain, waiting, "bob@contoso.com", "approve")
    status, body = decide(chain, waiting, token=token, body={"by": "someone else", "reason": "ok by me"})
    assert status == 200 and body["by"] == "bob@contoso.com" and body["next"] == "deploy"
    step = chain.run(waiting)["steps"]["approve"]
    assert step["identity"] == {"name": "bob@contoso.com", "id": None, "source": "signed-link"}
    status, body = decide(chain, waiting, token=token)
    assert status == 401 and "no longer pending" in body["error"]
    assert len(list(chain.storage.list(names.RUNS, approvers.USED_PREFIX))) == 1  # spent, whatever comes next


def test_a_link_works_only_for_its_run_action_request_and_lifetime(chain, waiting, quick_retrain):
    reject = link_token(chain, waiting, "alice@contoso.com", "reject")
    assert decide(chain, waiting, "approve", token=reject)[0] == 401  # a reject link does not approve
    payload, _, signature = reject.partition(".")
    forged = approvers._b64(json.dumps({**json.loads(approvers._unb64(payload)), "act": "approve"}).encode())
    status, body = decide(chain, waiting, token=f"{forged}.{signature}")
    assert status == 401 and "signature" in body["error"]
    other = chain.start([])
    quick_retrain(other)
    chain.pump(other)
    assert decide(chain, other, "reject", token=reject)[0] == 401  # another run's request
    settings = context.settings()
    later = datetime.now(timezone.utc) + timedelta(hours=settings.approval_ttl_hours + 1)
    with pytest.raises(approvers.Unauthorized, match="expired"):
        approvals.decide(chain.storage, settings, waiting, approved=False, reason="late", headers={},
                         token=reject, now=later)
    assert chain.run(waiting)["status"] == "waiting"
    assert decide(chain, waiting, "reject", token=reject)[0] == 200  # still unspent: the failures did not use it


def test_approval_settings_are_checked_at_start():
    base = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "DRIFTLINE_APPROVAL_REQUIRED": "true"}
    with pytest.raises(SettingsError, match="DRIFTLINE_APPROVAL_REQUIRED=true needs a way to authenticate"):
        startup.check(base)
    with pytest.raises(SettingsError, match="DRIFTLINE_APPROVAL_SECRET signs one approval link per approver"):
        startup.check({**base, "DRIFTLINE_APPROVAL_SECRET": "s"})
    assert startup.check({**base, "DRIFTLINE_TRUST_APP_SERVICE_AUTH": "true"}).approval_required
    settings = startup.check({**base, "DRIFTLINE_APPROVAL_SECRET": "s", "DRIFTLINE_APPROVERS": "a@x, b@x"})
    assert settings.approvers == ("a@x", "b@x") and "'s'" not in repr(settings)


def test_a_link_is_spent_by_its_first_use(storage):
    from shared.platform.settings import load_settings

    settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "DRIFTLINE_APPROVAL_SECRET": "s",
                              "DRIFTLINE_APPROVERS": "bob@x"})
    now = datetime.now(timezone.utc)
    pending = {"requested": now.isoformat(), "expires": (now + timedelta(hours=1)).isoformat()}
    token = approvers.link_token("s", "run1", "approve", "bob@x", pending["requested"], pending["expires"])
    assert approvers.link_identity(storage, settings, token, "run1", "approve", pending, now).name == "bob@x"
    with pytest.raises(approvers.Unauthorized, match="used already"):
        approvers.link_identity(storage, settings, token, "run1", "approve", pending, now)

"""The `Chain` driver of the lifecycle chain tests: it uploads labeled data, starts runs and feeds
their queue messages to the chain's triggers, as the host would, on either storage."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pandas as pd

from shared.chain import runs
from shared.platform import context, names
from shared.platform.messages import StepMessage
from shared.platform.storage import Storage
from tests.helpers import queues

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
STEP_QUEUES = (names.FETCH_QUEUE, names.UNIT_TEST_QUEUE, names.RETRAIN_QUEUE, names.REGISTER_QUEUE, names.TEST_QUEUE, names.DEPLOY_QUEUE)
# The training entry point the chain tests use unless a test names another from the same module.
SMALL_MODEL = "tests.helpers.entry_points:small"


APPROVERS = ("alice@contoso.com", "bob@contoso.com")


def principal(name: str, object_id: str = "00000000-0000-0000-0000-00000000a11c", idp: str = "aad") -> dict[str, str]:
    """The headers App Service authentication injects for a signed-in Entra ID user."""
    claims = {"auth_typ": "aad", "name_typ": "preferred_username", "role_typ": "roles", "claims": [
        {"typ": "preferred_username", "val": name},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id}]}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(claims).encode()).decode(),
            "X-MS-CLIENT-PRINCIPAL-NAME": name, "X-MS-CLIENT-PRINCIPAL-ID": object_id,
            "X-MS-CLIENT-PRINCIPAL-IDP": idp}


class Chain:
    def __init__(self, storage: Storage, functions: dict[str, Callable], model: str, monkeypatch):
        self.storage = storage
        self.functions = functions
        self.model = model
        self.monkeypatch = monkeypatch

    def configure(self, **settings: str) -> None:
        """Set DRIFTLINE_<NAME> app settings for the rest of the test."""
        for key, value in settings.items():
            self.monkeypatch.setenv(f"DRIFTLINE_{key.upper()}", value)
        context.reset()

    def upload(self, frame: pd.DataFrame | bytes, name: str) -> str:
        blob = f"{names.LABELED_PREFIX}{self.model}/{name}"
        data = frame if isinstance(frame, bytes) else frame.to_csv(index=False).encode()
        self.storage.put_bytes(names.DATALAKE, blob, data)
        return blob

    def intake(self, data: pd.DataFrame | bytes, name: str) -> dict[str, Any]:
        """Upload a labeled file (`name` under this model's folder, or a whole `labeled/...` blob name)
        and hand it to intake, the lake trigger's core; returns its receipt."""
        from datetime import datetime, timezone

        from shared.events import lake

        if name.startswith(names.LABELED_PREFIX):
            blob = name
            self.storage.put_bytes(names.DATALAKE, blob, data if isinstance(data, bytes) else
                                   data.to_csv(index=False).encode())
        else:
            blob = self.upload(data, name)
        etag = self.storage.etag(names.DATALAKE, blob) or ""
        lake.handle_upload(self.storage, context.settings(), f"{names.DATALAKE}/{blob}", etag,
                           datetime.now(timezone.utc))
        return lake.read_receipt(self.storage, blob, etag)

    def start(self, blobs: list[str] | None = None, plan: str = "data", trigger: dict | None = None) -> str:
        run_id, _ = runs.start_run(
            self.storage, plan=plan, model=self.model, reason="test",
            trigger=trigger or {"kind": "upload", "commit": "c0ffee", "repo": "org/app", "branch": "main"},
            payload={} if blobs is None else {"blobs": blobs},
        )
        return run_id

    def take(self, queue: str, run_id: str | None = None) -> list[str]:
        """Remove and return the bodies of this run's (or this model's) messages on a queue."""

        def mine(body: str) -> bool:
            try:
                data = json.loads(body)
            except json.JSONDecodeError:
                return False
            return data.get("run_id") == run_id if run_id else data.get("model") == self.model

        return queues.take(self.storage, queue, mine)

    def retrain_message(self, run_id: str) -> str:
        """The run's retrain message, after its fetch step (no code source: the built-in model)."""
        for fetch in self.take(names.FETCH_QUEUE, run_id):
            self.deliver(names.FETCH_QUEUE, fetch)
        return self.take(names.RETRAIN_QUEUE, run_id)[0]

    def deliver(self, queue: str, body: str) -> None:
        self.functions[queue.replace("-", "_")](func.QueueMessage(body=body.encode()))  # the function of the queue

    def pump(self, run_id: str, *, limit: int = 10) -> list[str]:
        """Feed this run's step messages to their triggers until none is left; returns the steps run."""
        done = []
        for _ in range(limit):
            pending = [(queue, body) for queue in STEP_QUEUES for body in self.take(queue, run_id)]
            if not pending:
                return done
            for queue, body in pending:
                self.deliver(queue, body)
                done.append(StepMessage.from_json(body).step)
        raise AssertionError(f"run {run_id} still had messages after {limit} rounds: {done}")

    def notifications(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.take(names.NOTIFY_QUEUE)]

    def run(self, run_id: str) -> dict[str, Any]:
        return runs.get_run(self.storage, run_id)

    def http(self, function: str, route: str, body: Any, *, headers: dict[str, str] | None = None,
             query: dict[str, str] | None = None, **params: str) -> func.HttpResponse:
        request = func.HttpRequest(
            method="POST", url=f"http://localhost/api/{route}", route_params=params, params=query or {},
            body=body if isinstance(body, bytes) else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        return self.functions[function](request)

    def require_approval(self) -> None:
        """Approval on, approvers authenticated by App Service (headers from `principal`) or signed links."""
        self.configure(approval_required="true", trust_app_service_auth="true", approvers=",".join(APPROVERS),
                       approval_secret="approval-link-secret")

    def train_version(self, frame: pd.DataFrame, name: str = "data.csv") -> tuple[str, int]:
        """Upload, then run retrain + register + test + deploy; returns (run id, version)."""
        run_id = self.start([self.upload(frame, name)])
        self.pump(run_id)
        run = self.run(run_id)
        assert run["status"] == "succeeded", run["events"][-3:]
        return run_id, run["steps"]["register"]["outputs"]["version"]


def stage_retrain(chain: Chain, run_id: str, files: dict[str, bytes]) -> None:
    """Do a run's retrain step with ready-made artifacts (the retrain trigger has its own tests)."""
    from shared.model import registry

    body = chain.retrain_message(run_id)
    message = StepMessage.from_json(body)
    assert runs.begin_step(chain.storage, message).proceed
    prefix = registry.stage(chain.storage, chain.model, run_id, files)
    runs.complete_step(chain.storage, message, {"staging": prefix, "data_version": "v", "rows": 2000})


def poison_entries(chain: Chain, queue: str, body: str) -> list[dict]:
    """Remove and return the entries `runs.poison` wrote to `<queue>-poison` for this body."""
    return [json.loads(entry) for entry in
            queues.take(chain.storage, f"{queue}-poison", lambda entry: json.loads(entry)["body"] == body)]

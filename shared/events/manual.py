"""A person's retrain on demand (`POST /api/models/{name}/retrain`, `./driftline retrain`): a
data run with the lake's labeled data and the code production was trained from, like a
scheduled retrain.

A request with the caller's `request_id` starts at most one run (the run id is derived from it), so a
retried request answers the same run instead of starting a second; without one, each request is a
new run. The answer names the run, so it can be followed (`GET /api/runs/{run_id}`).
"""

from __future__ import annotations

from typing import Any

from shared.chain import runs
from shared.chain.approvers import Identity
from shared.platform.errors import Answer, BadRequest, NotFound
from shared.platform.names import check_model_name
from shared.platform.settings import Settings
from shared.platform.storage import Storage


def start_retrain(storage: Storage, settings: Settings, model: str, *, by: Identity, reason: str,
                  request_id: Any = None) -> Answer:
    """Start the data run; 202 with its id, or 200 with the same id when `request_id` started it before.
    The trigger records who asked and how that was proven."""
    check_model_name(model)
    if model != settings.model_name:
        raise NotFound(f"this app trains model {settings.model_name}, not {model} (DRIFTLINE_MODEL_NAME).")
    if request_id is not None and (not isinstance(request_id, str) or not 0 < len(request_id) <= 200):
        raise BadRequest("request_id must be a string of 1 to 200 characters when given.")
    run_id, created = runs.start_run(
        storage, plan="data", model=model, trigger={"kind": "manual", "by": by.name, "identity": by.to_dict()},
        reason=f"retrain asked by {by.name}: {reason}",
        run_id=None if request_id is None else runs.run_id_for("manual-retrain", model, request_id),
    )
    body = {"status": "accepted" if created else "exists already", "run_id": run_id, "run": f"/api/runs/{run_id}"}
    return Answer(202 if created else 200, body)

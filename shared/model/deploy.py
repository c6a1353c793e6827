"""Deploy: move aliases (production or canary), route requests between them, roll back.

- `deploy_version` (the deploy step) points `production` at the tested release, keeping the old one
  as `previous`; with DRIFTLINE_CANARY_PERCENT > 0 and a production model already serving, it sets
  `canary` with that percent instead. That holds for both kinds of release: a new version (data and
  training runs), and production's version with an app-code run's inference code, so new inference
  code can be tried on a share of requests too. It is idempotent: the alias entry records the run id,
  and a redelivered deploy of the same run finds it there and moves nothing.
- `route` picks the alias (so the release) for one scoring request, deterministically from a hash of
  the request key, so one caller keeps seeing the same release during a canary.
- `rollback_production` is a person's rollback of `production` to `previous` or to any committed
  version; `promote_version` a person's promotion of a committed version to `production`.
The canary's counters and its judgement are in `shared.model.canary`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.chain import notify
from shared.chain.approvers import Identity
from shared.model import registry
from shared.model.canary import reset_stats
from shared.chain.states import RunStatus, StopRun
from shared.platform.errors import NotFound, StateConflict
from shared.platform.names import check_model_name
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage

def bucket(model: str, request_key: str) -> int:
    """0..99, stable for a (model, request key) pair."""
    digest = hashlib.sha256(f"{model}\x1f{request_key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


def route(model: str, request_key: str, aliases: dict[str, Any]) -> str | None:
    """The alias whose release serves this request: `canary` for its percent of keys, else
    `production`. `aliases` is the document from `registry.aliases`. None when nothing is deployed.
    (By alias, not version: an app-code canary is production's version with other inference code.)
    """
    table = aliases.get("aliases", {})
    canary = table.get("canary")
    if canary is not None and bucket(model, request_key) < int(canary.get("percent", 0)):
        return "canary"
    return None if table.get("production") is None else "production"


def deploy_version(storage: Storage, settings: Settings, message: StepMessage) -> dict[str, Any]:
    """The deploy step: returns the outputs to record; raises StopRun without a version to deploy."""
    version = message.payload.get("version")
    if not isinstance(version, int):
        raise StopRun(RunStatus.FAILED, "deploy needs the tested version in the message payload; none was given.")
    model = message.model
    table = registry.aliases(storage, model)[0]["aliases"]
    production = table.get("production")
    if _plan(storage, message) == "app":
        # A new release: production's version with this commit's inference code. The run tested the
        # production of its time; never move production back to it.
        if production is None or production["version"] != version:
            now = "nothing" if production is None else f"v{production['version']}"
            raise StopRun(RunStatus.SKIPPED, f"production is {now} now, not the v{version} this app-code run "
                                             "tested; nothing is deployed over it (push again to test the code with it).")
        alias = _move(storage, settings, message, version, table, code=message.payload.get("code"))
    elif production is not None and production["version"] == version:
        alias = "production"  # already serving: a redelivery after the move
    elif _moved_since_test(message, production):
        raise StopRun(RunStatus.REJECTED, f"production is v{production['version'] if production else None} now, "
                                          f"not the v{message.payload['compared_with']} the gates compared v{version} "
                                          "with: nothing is deployed; start a new run to test it against production.")
    else:
        alias = _move(storage, settings, message, version, table, code=None)
    table = registry.aliases(storage, model)[0]["aliases"]
    previous = table.get("previous")
    outputs = {
        "deployed": {
            "version": version,
            "alias": alias,
            "percent": settings.canary_percent if alias == "canary" else 100,
            "previous": None if previous is None else previous["version"],
            "inference_commit": (table[alias].get("code") or {}).get("commit"),
        }
    }
    event = "model.canary_started" if alias == "canary" else "model.deployed"
    warnings = message.payload.get("warnings")  # gates not evaluated, accepted by their rule
    notify.enqueue(storage, event, model=model, run_id=message.run_id,
                   data={**outputs["deployed"], "trigger": message.trigger, "reason": message.reason,
                         **({"warnings": warnings} if warnings else {})})
    return outputs


def _move(storage: Storage, settings: Settings, message: StepMessage, version: int,
          table: dict[str, Any], *, code: dict[str, Any] | None) -> str:
    """Point `canary` (DRIFTLINE_CANARY_PERCENT > 0 and a production release serving) or `production`
    at the release (`version`, `code`); returns the alias moved. A canary this run set is left as is."""
    canary = table.get("canary")
    if settings.canary_percent > 0 and table.get("production") is not None:
        if not (canary and canary["version"] == version and canary.get("run_id") == message.run_id):
            reset_stats(storage, message.model)
            registry.move_alias(storage, message.model, "canary", version, why=message.reason, by="driftline",
                                run_id=message.run_id, percent=settings.canary_percent, code=code)
        return "canary"
    registry.move_alias(storage, message.model, "production", version, why=message.reason, by="driftline",
                        run_id=message.run_id, code=code)
    return "production"


def _moved_since_test(message: StepMessage, production: dict[str, Any] | None) -> bool:
    """True when production changed between the test step and now (e.g. an approval came late)."""
    if "compared_with" not in message.payload:
        return False
    return (None if production is None else int(production["version"])) != message.payload["compared_with"]


def _plan(storage: Storage, message: StepMessage) -> str | None:
    from shared.chain import runs

    run = runs.get_run(storage, message.run_id)
    return None if run is None else run["plan"]


def rollback_production(storage: Storage, model: str, *, by: Identity, reason: str,
                        version: int | None = None) -> dict[str, Any]:
    """A person's rollback: `production` back to `previous` (or to `version`, any committed one),
    notified, with who asked and how that was proven. NotFound when nothing of the model is deployed, registry.NoPrevious when there is
    nothing to go back to, registry.UnknownVersion for a version never committed."""
    check_model_name(model)
    if not registry.aliases(storage, model)[0]["aliases"]:
        raise NotFound(f"model {model} has no deployed version.")
    document = registry.rollback(storage, model, why=reason, by=by.name, to=version, identity=by.to_dict())
    production = document["aliases"]["production"]["version"]
    notify.enqueue(storage, "model.rolled_back", model=model,
                   data={"alias": "production", "version": production, "by": by.name,
                         "identity": by.to_dict(), "reason": reason})
    return {"model": model, "production": production, "aliases": document["aliases"]}


def promote_version(storage: Storage, model: str, version: int, *, by: Identity, reason: str) -> dict[str, Any]:
    """A person's promotion of a committed version to `production` (the one serving becomes
    `previous`), notified. registry.UnknownVersion for a version never committed; StateConflict when
    it is production already."""
    check_model_name(model)
    production = registry.resolve(storage, model, "production")
    if production == version:
        raise StateConflict(f"model {model} v{version} is production already.")
    document = registry.move_alias(storage, model, "production", version, why=reason, by=by.name,
                                   identity=by.to_dict())
    notify.enqueue(storage, "model.promoted", model=model,
                   data={"alias": "production", "version": version, "previous": production, "by": by.name,
                         "identity": by.to_dict(), "reason": reason})
    return {"model": model, "production": version, "aliases": document["aliases"]}

"""Deploy: move aliases (production or canary), route requests between them, judge canaries.

- `deploy_version` (the deploy step) points `production` at the tested version, keeping the old one as
  `previous`; with DRIFTLINE_CANARY_PERCENT > 0 and a production model already serving, it sets
  `canary` with that percent instead. It is idempotent: the alias entry records the run id, and a
  redelivered deploy of the same run finds it there and moves nothing.
- `route` picks the version for one scoring request, deterministically from a hash of the request
  key, so one caller keeps seeing the same model during a canary.
- `record_canary_outcome` is called by scoring (batched counts are fine); `evaluate_canary` (from a
  timer) promotes the canary or removes it on error rate, latency or feedback accuracy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from shared.chain import notify
from shared.model import registry
from shared.platform import names
from shared.platform.clock import utcnow
from shared.platform.errors import StopRun
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage

COUNTERS = ("requests", "errors", "latency_ms_sum", "feedback_correct", "feedback_total")


def _stats_blob(model: str) -> str:
    return f"{registry.check_name(model)}/canary-stats.json"


def bucket(model: str, request_key: str) -> int:
    """0..99, stable for a (model, request key) pair."""
    digest = hashlib.sha256(f"{model}\x1f{request_key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


def route(model: str, request_key: str, aliases: dict[str, Any]) -> int | None:
    """The version that serves this request: the canary for its percent of keys, else production.

    `aliases` is the document from `registry.aliases`. None when nothing is deployed.
    """
    table = aliases.get("aliases", {})
    production = table.get("production")
    canary = table.get("canary")
    if canary is not None and bucket(model, request_key) < int(canary.get("percent", 0)):
        return int(canary["version"])
    return None if production is None else int(production["version"])


def record_canary_outcome(
    storage: Storage,
    model: str,
    version: int,
    *,
    requests: int = 1,
    errors: int = 0,
    latency_ms_sum: float = 0.0,
    feedback_correct: int = 0,
    feedback_total: int = 0,
) -> dict[str, Any]:
    """Add counts for one version to `models/<name>/canary-stats.json` (ETag-merged); returns them."""
    added = dict(requests=requests, errors=errors, latency_ms_sum=latency_ms_sum,
                 feedback_correct=feedback_correct, feedback_total=feedback_total)

    def change(stats):
        stats = stats or {"since": utcnow(), "versions": {}}
        counters = stats["versions"].setdefault(str(int(version)), dict.fromkeys(COUNTERS, 0))
        for key, value in added.items():
            counters[key] = counters.get(key, 0) + value
        return stats

    return storage.update_json(names.MODELS, _stats_blob(model), change)["versions"][str(int(version))]


def canary_stats(storage: Storage, model: str) -> dict[str, Any]:
    document = storage.read_json(names.MODELS, _stats_blob(model))
    return {"since": None, "versions": {}} if document is None else document.value


def deploy_version(storage: Storage, settings: Settings, message: StepMessage) -> dict[str, Any]:
    """The deploy step: returns the outputs to record; raises StopRun without a version to deploy."""
    version = message.payload.get("version")
    if not isinstance(version, int):
        raise StopRun("failed", "deploy needs the tested version in the message payload; none was given.")
    model = message.model
    table = registry.aliases(storage, model)[0]["aliases"]
    production = table.get("production")
    canary = table.get("canary")
    if production is not None and production["version"] == version:
        alias = "production"  # already serving: the app plan, or a redelivery after the move
    elif settings.canary_percent > 0 and production is not None:
        alias = "canary"
        if not (canary and canary["version"] == version and canary.get("run_id") == message.run_id):
            storage.write_json(names.MODELS, _stats_blob(model), {"since": utcnow(), "versions": {}})
            registry.move_alias(storage, model, "canary", version, why=message.reason, by="driftline",
                                run_id=message.run_id, percent=settings.canary_percent)
    else:
        alias = "production"
        registry.move_alias(storage, model, "production", version, why=message.reason, by="driftline",
                            run_id=message.run_id)
    table = registry.aliases(storage, model)[0]["aliases"]
    previous = table.get("previous")
    outputs = {
        "deployed": {
            "version": version,
            "alias": alias,
            "percent": settings.canary_percent if alias == "canary" else 100,
            "previous": None if previous is None else previous["version"],
        }
    }
    event = "model.canary_started" if alias == "canary" else "model.deployed"
    notify.enqueue(storage, event, model=model, run_id=message.run_id,
                   data={**outputs["deployed"], "trigger": message.trigger, "reason": message.reason})
    return outputs


@dataclass(frozen=True)
class CanaryDecision:
    action: str  # none | wait | promote | rollback
    reason: str
    version: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def evaluate_canary(storage: Storage, settings: Settings, model: str, *, by: str = "driftline") -> CanaryDecision:
    """Promote the canary to production, or remove it, from the counters scoring recorded."""
    table = registry.aliases(storage, model)[0]["aliases"]
    canary = table.get("canary")
    if canary is None:
        return CanaryDecision("none", "no canary is deployed")
    version = int(canary["version"])
    all_stats = canary_stats(storage, model)["versions"]
    stats = {**dict.fromkeys(COUNTERS, 0), **all_stats.get(str(version), {})}
    if stats["requests"] < settings.canary_min_requests:
        return CanaryDecision("wait", f"{stats['requests']} of {settings.canary_min_requests} requests seen",
                              version, stats)
    problem = _canary_problem(settings, stats, all_stats.get(str((table.get("production") or {}).get("version"))))
    run_id = canary.get("run_id")
    if problem:
        registry.remove_alias(storage, model, "canary", why=f"canary rolled back: {problem}", by=by, run_id=run_id)
        notify.enqueue(storage, "model.rolled_back", model=model, run_id=run_id, key="canary",
                       data={"alias": "canary", "version": version, "reason": problem, "stats": stats})
        return CanaryDecision("rollback", problem, version, stats)
    why = f"canary healthy after {stats['requests']} requests"
    registry.move_alias(storage, model, "production", version, why=why, by=by, run_id=run_id)
    notify.enqueue(storage, "model.promoted", model=model, run_id=run_id, key="canary",
                   data={"alias": "production", "version": version, "reason": why, "stats": stats})
    return CanaryDecision("promote", why, version, stats)


def _canary_problem(settings: Settings, stats: dict[str, Any], production: dict[str, Any] | None) -> str:
    requests = stats["requests"]
    error_rate = stats.get("errors", 0) / requests
    if error_rate > settings.canary_max_error_rate:
        return f"error rate {error_rate:.3f} above {settings.canary_max_error_rate}"
    mean_latency = stats.get("latency_ms_sum", 0) / requests
    if mean_latency > settings.canary_max_latency_ms:
        return f"mean latency {mean_latency:.1f} ms above {settings.canary_max_latency_ms} ms"
    total = stats.get("feedback_total", 0)
    if total >= settings.canary_min_feedback and production and production.get("feedback_total", 0) >= settings.canary_min_feedback:
        canary_accuracy = stats.get("feedback_correct", 0) / total
        production_accuracy = production["feedback_correct"] / production["feedback_total"]
        if canary_accuracy < production_accuracy - settings.quality_tolerance:
            return (f"feedback accuracy {canary_accuracy:.3f} below production's "
                    f"{production_accuracy:.3f} by more than {settings.quality_tolerance}")
    return ""

"""The canary: outcome counters per serving alias, and the judgement that promotes or removes it.

Counters live in `models/<name>/canary-stats.json` (ETag-merged), one set for `canary` and one for
`production`, counted since the canary started (keyed by alias, not version: an app-code canary is
production's version with other inference code). Scoring adds its batched counts with
`record_canary_outcome`, the deploy step resets them when a new canary starts, and `evaluate_canary`
(from the sweeper timer) promotes the canary's release to production, or removes it on error rate,
latency or feedback quality against production's own counters, an A/B comparison
(`shared.model.abtest`): accuracy (`feedback_correct` / `feedback_total`) for a classifier, mean absolute
error (`feedback_abs_error`, with `feedback_abs_error_sq` for its spread, over `feedback_total`) for a
regressor; the canary is removed only when its feedback is worse than production's by more than
DRIFTLINE_QUALITY_TOLERANCE (relative for an error) with DRIFTLINE_CANARY_CONFIDENCE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.chain import notify
from shared.model import abtest, registry, tasks
from shared.platform import names
from shared.platform.clock import utcnow
from shared.platform.names import check_model_name
from shared.platform.settings import Settings
from shared.platform.storage import Storage

COUNTERS = ("requests", "errors", "latency_ms_sum", "feedback_correct", "feedback_total", "feedback_abs_error",
            "feedback_abs_error_sq")
SERVING = ("production", "canary")  # the aliases counted


def _stats_blob(model: str) -> str:
    return f"{check_model_name(model)}/canary-stats.json"


def reset_stats(storage: Storage, model: str) -> None:
    storage.write_json(names.MODELS, _stats_blob(model), {"since": utcnow(), "aliases": {}})


def record_canary_outcome(
    storage: Storage,
    model: str,
    alias: str,
    *,
    requests: int = 1,
    errors: int = 0,
    latency_ms_sum: float = 0.0,
    feedback_correct: int = 0,
    feedback_total: int = 0,
    feedback_abs_error: float = 0.0,
    feedback_abs_error_sq: float = 0.0,
) -> dict[str, Any]:
    """Add counts for one alias to `models/<name>/canary-stats.json` (ETag-merged); returns them."""
    if alias not in SERVING:
        raise ValueError(f"canary counters are kept for {' and '.join(SERVING)}, not {alias!r}.")
    added = dict(requests=requests, errors=errors, latency_ms_sum=latency_ms_sum,
                 feedback_correct=feedback_correct, feedback_total=feedback_total,
                 feedback_abs_error=feedback_abs_error, feedback_abs_error_sq=feedback_abs_error_sq)

    def change(stats):
        stats = stats or {"since": utcnow(), "aliases": {}}
        counters = stats["aliases"].setdefault(alias, dict.fromkeys(COUNTERS, 0))
        for key, value in added.items():
            counters[key] = counters.get(key, 0) + value
        return stats

    return storage.update_json(names.MODELS, _stats_blob(model), change)["aliases"][alias]


def canary_stats(storage: Storage, model: str) -> dict[str, Any]:
    document = storage.read_json(names.MODELS, _stats_blob(model))
    return {"since": None, "aliases": {}} if document is None else document.value


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
    all_stats = canary_stats(storage, model)["aliases"]
    stats = {**dict.fromkeys(COUNTERS, 0), **all_stats.get("canary", {})}
    if stats["requests"] < settings.canary_min_requests:
        return CanaryDecision("wait", f"{stats['requests']} of {settings.canary_min_requests} requests seen",
                              version, stats)
    task = tasks.task_of(registry.version_info(storage, model, version)["schema"])
    problem = _canary_problem(settings, stats, all_stats.get("production"), task)
    run_id = canary.get("run_id")
    if problem:
        registry.remove_alias(storage, model, "canary", why=f"canary rolled back: {problem}", by=by, run_id=run_id)
        notify.enqueue(storage, "model.rolled_back", model=model, run_id=run_id, key="canary",
                       data={"alias": "canary", "version": version, "reason": problem, "stats": stats})
        return CanaryDecision("rollback", problem, version, stats)
    why = f"canary healthy after {stats['requests']} requests"
    evidence = _feedback_comparison(settings, stats, all_stats.get("production"), task)
    if evidence is not None:
        why += f"; {evidence.describe()}: {_verdict(evidence)}"
    registry.move_alias(storage, model, "production", version, why=why, by=by, run_id=run_id,
                        code=canary.get("code"))
    notify.enqueue(storage, "model.promoted", model=model, run_id=run_id, key="canary",
                   data={"alias": "production", "version": version, "reason": why, "stats": stats})
    return CanaryDecision("promote", why, version, stats)


def _canary_problem(settings: Settings, stats: dict[str, Any], production: dict[str, Any] | None,
                    task: tasks.Task = tasks.Task.CLASSIFICATION) -> str:
    requests = stats["requests"]
    error_rate = stats.get("errors", 0) / requests
    if error_rate > settings.canary_max_error_rate:
        return f"error rate {error_rate:.3f} above {settings.canary_max_error_rate}"
    mean_latency = stats.get("latency_ms_sum", 0) / requests
    if mean_latency > settings.canary_max_latency_ms:
        return f"mean latency {mean_latency:.1f} ms above {settings.canary_max_latency_ms} ms"
    comparison = _feedback_comparison(settings, stats, production, task)
    if comparison is not None and comparison.worse:
        return f"{comparison.describe()}: {_verdict(comparison)}"
    return ""


def _feedback_comparison(settings: Settings, stats: dict[str, Any], production: dict[str, Any] | None,
                         task: tasks.Task) -> abtest.Comparison | None:
    """The A/B comparison once both sides have DRIFTLINE_CANARY_MIN_FEEDBACK labels, else None."""
    if stats.get("feedback_total", 0) < settings.canary_min_feedback or not production \
            or production.get("feedback_total", 0) < settings.canary_min_feedback:
        return None
    return _compare(settings, stats, production, task)


def _verdict(comparison: abtest.Comparison) -> str:
    if comparison.low is None:
        return ("worse" if comparison.worse else "not worse") + " beyond the tolerance (point estimates: no spread recorded)"
    return f"{'worse' if comparison.worse else 'not shown worse'} with {comparison.confidence:.0%} confidence"


def _compare(settings: Settings, canary: dict[str, Any], production: dict[str, Any],
             task: tasks.Task) -> abtest.Comparison:
    if task is tasks.Task.REGRESSION:
        return abtest.mean_error(canary.get("feedback_abs_error", 0), _squares(canary), canary["feedback_total"],
                                 production.get("feedback_abs_error", 0), _squares(production),
                                 production["feedback_total"], tolerance=settings.quality_tolerance,
                                 confidence=settings.canary_confidence)
    return abtest.accuracy(canary.get("feedback_correct", 0), canary["feedback_total"],
                           production.get("feedback_correct", 0), production["feedback_total"],
                           tolerance=settings.quality_tolerance, confidence=settings.canary_confidence)


def _squares(counters: dict[str, Any]) -> float | None:
    """The sum of squared errors, or None for counters kept before it was (errors without squares)."""
    squares = counters.get("feedback_abs_error_sq", 0)
    return None if not squares and counters.get("feedback_abs_error", 0) else squares

"""Read-only look-ups behind the HTTP API: the models and what serves each, a model's versions and
aliases, the lineage of what serves now, the runs (filtered by status and model, most recently
updated first) and a run's timeline. Plain dicts out; `NotFound` (404) with a message for unknown
names, `BadRequest` (400) naming a bad filter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.chain.cost import run_cost
from shared.chain.states import RunStatus, step_status
from shared.platform import names
from shared.platform.errors import BadRequest, NotFound
from shared.platform.names import check_model_name

if TYPE_CHECKING:
    from shared.platform.settings import CostRates
    from shared.platform.storage import Storage


RUNS_LIMIT = 500


def list_models(storage: "Storage") -> dict[str, Any]:
    """Every model with a registered version or an alias, and what serves it (production, canary)."""
    from shared.model import registry

    found = []
    for model in registry.model_names(storage):
        table = registry.aliases(storage, model)[0]["aliases"]
        found.append({"model": model, "serving": serving_of(table), "versions": len(registry.versions(storage, model))})
    return {"models": found}


def serving_of(table: dict[str, Any]) -> dict[str, Any]:
    """What an aliases table serves: the production and previous versions, the canary and its share."""
    production, previous, canary = table.get("production"), table.get("previous"), table.get("canary")
    return {
        "production": None if production is None else int(production["version"]),
        "previous": None if previous is None else int(previous["version"]),
        "canary": None if canary is None else {"version": int(canary["version"]), "percent": canary.get("percent")},
    }


def list_runs(storage: "Storage", *, status: str | None = None, model: str | None = None,
              limit: int | str | None = None, rates: "CostRates | None" = None) -> dict[str, Any]:
    """The runs, most recently updated first, with their current step (and, given the rates, their
    estimated cost); filtered by status and model."""
    if status is not None and status not in {s.value for s in RunStatus}:
        raise BadRequest(f"status {status[:40]!r} is not a run status: use one of "
                         f"{', '.join(s.value for s in RunStatus)}.")
    if model is not None:
        check_model_name(model)
    count = _limit(limit)
    found = [run_summary(run, rates) for run in recent_runs(storage, status=status, model=model, limit=count)]
    return {"runs": found, "filters": {"status": status, "model": model, "limit": count}}


def recent_runs(storage: "Storage", *, status: str | None = None, model: str | None = None, limit: int,
                read_at_most: int | None = None) -> list[dict[str, Any]]:
    """Run records, most recently changed first, of that status and model when given: at most `limit`,
    from at most `read_at_most` records read (None: as many as it takes)."""
    items = [item for item in storage.list(names.RUNS) if "/" not in item.name and item.name.endswith(".json")]
    items.sort(key=lambda item: item.last_modified, reverse=True)
    found: list[dict[str, Any]] = []
    for item in items[:read_at_most]:
        if len(found) == limit:
            break
        document = storage.read_json(names.RUNS, item.name)
        if document is None or not isinstance(document.value, dict):
            continue
        run = document.value
        if (status is None or run.get("status") == status) and (model is None or run.get("model") == model):
            found.append(run)
    return found


def run_summary(run: dict[str, Any], rates: "CostRates | None" = None) -> dict[str, Any]:
    """One line of the run list: ids, plan, status, what started it, the step it is at or ended at,
    and with `rates` its estimated cost in USD (`shared.chain.cost`)."""
    steps = run.get("steps", {})
    current = next((event["step"] for event in reversed(run.get("events", [])) if event.get("step")), None)
    return {
        "run_id": run["run_id"],
        "model": run.get("model"),
        "plan": run.get("plan"),
        "status": run.get("status"),
        "step": current,
        "step_status": None if current is None else step_status(steps.get(current)).value,
        "trigger": (run.get("trigger") or {}).get("kind"),
        "reason": run.get("reason"),
        "created": run.get("created"),
        "updated": run.get("updated"),
        **({} if rates is None else {"cost_usd": run_cost(run, rates).total_usd}),
    }


def _limit(value: int | str | None) -> int:
    if value is None or value == "":
        return 50
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= RUNS_LIMIT:
        raise BadRequest(f"limit {str(value)[:20]!r} must be a whole number from 1 to {RUNS_LIMIT}.")
    return number


def model_overview(storage: "Storage", model: str) -> dict[str, Any]:
    """Every committed version with its metrics, the aliases, and the alias history (newest first)."""
    from shared.model import registry

    check_model_name(model)
    versions = registry.versions(storage, model)
    document, _ = registry.aliases(storage, model)
    if not versions and not document["aliases"]:
        raise NotFound(f"model {model} is unknown: no version of it was ever registered.")
    by_version: dict[int, list[str]] = {}
    for alias, entry in document["aliases"].items():
        by_version.setdefault(int(entry["version"]), []).append(alias)
    return {
        "model": model,
        "versions": [
            {
                "version": record["version"],
                "aliases": sorted(by_version.get(record["version"], [])),
                "run_id": record.get("run_id"),
                "committed_at": record.get("committed_at"),
                "metrics": record.get("metrics"),
                "data_version": record.get("data_version"),
                "commit": record.get("commit"),
            }
            for record in versions
        ],
        "aliases": document["aliases"],
        "history": list(reversed(document.get("history", []))),
    }


def serving_lineage(storage: "Storage", model: str) -> dict[str, Any]:
    """The run behind the production version: code (commit, repo, training code hash), data (version,
    blobs), params, metrics, run id and trigger, with a link to the run's timeline."""
    from shared.model import registry

    check_model_name(model)
    document, _ = registry.aliases(storage, model)
    table = document["aliases"]
    production = table.get("production")
    if production is None:
        if not registry.versions(storage, model):
            raise NotFound(f"model {model} is unknown: no version of it was ever registered.")
        raise NotFound(f"model {model} has no production version yet, so nothing is serving.")
    version = int(production["version"])
    info = registry.version_info(storage, model, version)
    lineage = info["lineage"] or {}
    run_id = lineage.get("run_id") or info["committed"].get("run_id")
    canary = table.get("canary")
    return {
        "model": model,
        "alias": "production",
        "version": version,
        "since": production.get("since"),
        "run_id": run_id,
        "run": f"/api/runs/{run_id}" if run_id else None,
        "trigger": lineage.get("trigger"),
        "reason": lineage.get("reason"),
        "code": lineage.get("code"),
        "release": _release(production, lineage.get("code") or {}),
        "data": lineage.get("data"),
        "params": lineage.get("parameters"),
        "libraries": lineage.get("libraries"),
        "timings": lineage.get("timings"),
        "metrics": info["metrics"],
        "committed_at": info["committed"].get("committed_at"),
        "canary": None if canary is None else {"version": canary["version"], "percent": canary.get("percent")},
        "lineage": lineage,
    }


def run_timeline(storage: "Storage", run_id: str, rates: "CostRates | None" = None) -> dict[str, Any]:
    """A run's steps in plan order (status, start, finish, duration, attempts, reason, compute used),
    its events, and with `rates` its estimated cost per step (`shared.chain.cost`)."""
    from shared.chain import runs

    run = runs.get_run(storage, runs.check_run_id(run_id))
    if run is None:
        raise NotFound(f"run {run_id} is unknown: check the id (runs are kept for the retention period).")
    return timeline_of(run, rates)


def timeline_of(run: dict[str, Any], rates: "CostRates | None" = None) -> dict[str, Any]:
    """`run_timeline` of a run record already read."""
    recorded = run.get("steps", {})
    order = list(run.get("steps_planned", [])) + [s for s in recorded if s not in run.get("steps_planned", [])]
    steps = []
    for name in order:
        step = recorded.get(name, {})
        steps.append({
            "step": name,
            "status": step_status(step),
            "started": step.get("started"),
            "finished": step.get("finished"),
            "duration_s": step.get("duration_s"),
            "attempts": step.get("attempts", 0),
            "reason": step.get("detail") or None,
            "outputs": step.get("outputs"),
            "usage": step.get("usage"),  # compute of the worker and its sandboxed subprocesses
            **({"traceback": step["traceback"]} if step.get("traceback") else {}),
        })
    return {
        "run_id": run["run_id"],
        "model": run.get("model"),
        "plan": run.get("plan"),
        "status": run.get("status"),
        "trigger": run.get("trigger"),
        "reason": run.get("reason"),
        "created": run.get("created"),
        "updated": run.get("updated"),
        "steps": steps,
        "events": run.get("events", []),
        **({} if rates is None else {"cost": run_cost(run, rates).to_dict()}),
    }


def _release(entry: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    """What serves: the version, the commit whose code trained it, the commit whose inference code
    serves it (the same one unless an app-code run made a new release of this version)."""
    serving = entry.get("code") or trained
    return {
        "version": int(entry["version"]),
        "training_commit": trained.get("commit"),
        "inference_commit": serving.get("commit"),
        "inference_snapshot": serving.get("snapshot"),
        "inference_module": serving.get("inference"),
    }

"""The model registry, kept in blob storage (container `models`).

Layout, per model name:
- `<name>/staging/<run_id>/...`  artifacts as training wrote them; never read by scoring;
- `<name>/<version>/`  `model.skops`, `profile.json`, `metrics.json`, `lineage.json`, `schema.json`,
  `holdout.parquet`, and `committed.json` written LAST: a version exists only once that marker does,
  so a crash half-way through a copy never shows a half-registered model;
- `<name>/versions.json`  `{"next": n, "runs": {run_id: version}}`, changed with ETag conditions so two
  registrations never share a number and one run always gets the same version back;
- `<name>/aliases.json`  `{"aliases": {alias: {"version", "since", "run_id", ["percent"]}}, "history": [...]}`,
  changed only with ETag conditions (`Storage.update_json`).

Artifacts are skops files, loaded with an explicit list of trusted types: scikit-learn, numpy and scipy
types, plus types from the package of the training entry point that produced the model. Anything
else raises `UntrustedArtifact` rather than being loaded.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shared.platform import names
from shared.platform.names import check_model_name
from shared.platform.clock import utcnow
from shared.platform.errors import BlobNotFound, ConditionFailed, DriftlineError, NotFound, StateConflict
from shared.platform.storage import Storage

ALIASES = ("candidate", "production", "previous", "canary")
ARTIFACTS = ("model.skops", "profile.json", "metrics.json", "lineage.json", "schema.json", "holdout.parquet")
COMMIT_MARKER = "committed.json"
SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.")


class UnknownVersion(NotFound):
    """The version does not exist or was never committed."""


class NoPrevious(StateConflict):
    """Rollback asked for, but there is no `previous` version to go back to."""


class UntrustedArtifact(DriftlineError):
    """The skops file holds types outside the trusted list; it is not loaded."""


def staging_prefix(model: str, run_id: str) -> str:
    return f"{check_model_name(model)}/staging/{run_id}/"


def version_prefix(model: str, version: int) -> str:
    return f"{check_model_name(model)}/{int(version)}/"


def aliases_blob(model: str) -> str:
    return f"{check_model_name(model)}/aliases.json"


def _versions_blob(model: str) -> str:
    return f"{check_model_name(model)}/versions.json"


# -- read API (scoring and the look-up HTTP API build on these) ----------------------------------


def versions(storage: Storage, model: str) -> list[dict[str, Any]]:
    """Every committed version's commit record (version, run_id, committed_at, metrics, ...), oldest first."""
    prefix = f"{check_model_name(model)}/"
    found = []
    for item in storage.list(names.MODELS, prefix):
        parts = item.name[len(prefix):].split("/")
        if len(parts) == 2 and parts[0].isdigit() and parts[1] == COMMIT_MARKER:
            document = storage.read_json(names.MODELS, item.name)
            if document is not None:
                found.append(document.value)
    return sorted(found, key=lambda record: record["version"])


def model_names(storage: Storage) -> list[str]:
    """The models that have a version counter or an aliases document, in name order."""
    found = set()
    for item in storage.list(names.MODELS):
        model, _, rest = item.name.partition("/")
        if rest in ("versions.json", "aliases.json"):
            found.add(model)
    return sorted(found)


def version_info(storage: Storage, model: str, version: int) -> dict[str, Any]:
    """The commit record, metrics, lineage and input schema of one committed version."""
    committed = _committed(storage, model, version)
    return {
        "version": int(version),
        "committed": committed,
        "metrics": _read_json(storage, model, version, "metrics.json"),
        "lineage": _read_json(storage, model, version, "lineage.json"),
        "schema": _read_json(storage, model, version, "schema.json"),
    }


def aliases(storage: Storage, model: str) -> tuple[dict[str, Any], str]:
    """The aliases document and its ETag ("" when no alias was ever set)."""
    document = storage.read_json(names.MODELS, aliases_blob(model))
    if document is None:
        return {"aliases": {}, "history": []}, ""
    return document.value, document.etag


def resolve(storage: Storage, model: str, alias: str) -> int | None:
    entry = aliases(storage, model)[0]["aliases"].get(alias)
    return None if entry is None else int(entry["version"])


def read_artifact(storage: Storage, model: str, version: int, name: str) -> bytes:
    _committed(storage, model, version)
    return storage.get_bytes(names.MODELS, version_prefix(model, version) + name)[0]


def load_estimator(storage: Storage, model: str, version: int):
    """The fitted estimator of a committed version, loaded by skops with trusted types only."""
    data = read_artifact(storage, model, version, "model.skops")
    lineage = _read_json(storage, model, version, "lineage.json")
    return loads_estimator(data, trusted_prefixes_for(lineage))


def load_profile(storage: Storage, model: str, version: int):
    """The reference drift profile built from this version's training data."""
    from shared.drift import Profile

    return Profile.from_json(read_artifact(storage, model, version, "profile.json"))


def load_holdout(storage: Storage, model: str, version: int):
    """The held-out rows of this version's training data, with the target column (a DataFrame)."""
    import io

    import pandas as pd

    return pd.read_parquet(io.BytesIO(read_artifact(storage, model, version, "holdout.parquet")))


def trusted_prefixes_for(lineage: dict[str, Any] | None) -> tuple[str, ...]:
    """scikit-learn, numpy and scipy, plus the top-level package of the training entry point."""
    entry_point = ((lineage or {}).get("code") or {}).get("entry_point")
    if not entry_point:
        return SAFE_TYPE_PREFIXES
    package = entry_point.split(":", 1)[0].split(".", 1)[0]
    return SAFE_TYPE_PREFIXES + (f"{package}.",)


def trusted_types(data: bytes, prefixes: tuple[str, ...]) -> list[str]:
    """The types skops needs trusted to load `data`; raises UntrustedArtifact for any outside `prefixes`."""
    import skops.io as sio

    needed = sio.get_untrusted_types(data=data)
    refused = [name for name in needed if not name.startswith(prefixes)]
    if refused:
        raise UntrustedArtifact(
            f"the model file holds types outside the trusted list ({', '.join(prefixes)}): "
            f"{', '.join(refused)}."
        )
    return needed


def loads_estimator(data: bytes, prefixes: tuple[str, ...] = SAFE_TYPE_PREFIXES):
    import skops.io as sio

    return sio.loads(data, trusted=trusted_types(data, prefixes))


# -- write API (the chain) ----------------------------------------------------------------------


def stage(storage: Storage, model: str, run_id: str, files: dict[str, bytes]) -> str:
    """Write a run's artifacts under its staging prefix (overwriting a crashed attempt's files)."""
    missing = sorted(set(ARTIFACTS) - set(files))
    if missing:
        raise ValueError(f"cannot stage model artifacts: missing {', '.join(missing)}.")
    prefix = staging_prefix(model, run_id)
    for name, data in files.items():
        storage.put_bytes(names.MODELS, prefix + name, data)
    return prefix


def allocate_version(storage: Storage, model: str, run_id: str) -> int:
    """The version number for this run: a new one the first time, the same one on every retry."""

    def change(current):
        current = current or {"next": 1, "runs": {}}
        if run_id not in current["runs"]:
            current["runs"][run_id] = current["next"]
            current["next"] += 1
        return current

    return int(storage.update_json(names.MODELS, _versions_blob(model), change)["runs"][run_id])


def register(storage: Storage, model: str, run_id: str, *, extra_lineage: dict[str, Any] | None = None) -> int:
    """Copy the staged artifacts of a run to its version folder, then write the commit marker.

    Idempotent: a second call for the same run returns the same version and writes nothing once
    the marker exists; a call after a crash mid-copy overwrites the partial files and commits.
    Calls for one run that overlap (a copy of the step taking over an expired lease while the first
    still copies) write the same bytes: the copies are the staged files, and the version's lineage
    (which adds the version and the registration time) is written once, create-if-absent, and reused.
    So a copy finishing after the commit rewrites nothing the marker's digests do not name.
    """
    version = allocate_version(storage, model, run_id)
    target = version_prefix(model, version)
    if storage.exists(names.MODELS, target + COMMIT_MARKER):
        return version
    source = staging_prefix(model, run_id)
    staged = {item.name[len(source):] for item in storage.list(names.MODELS, source)}
    missing = sorted(set(ARTIFACTS) - staged)
    if missing:
        raise BlobNotFound(f"staged artifacts of run {run_id} are missing: {', '.join(missing)}")
    digests: dict[str, str] = {}
    for name in ARTIFACTS:
        data = storage.get_bytes(names.MODELS, source + name)[0]
        if name == "lineage.json":
            data = _version_lineage(storage, target, data, version, extra_lineage)
        else:
            storage.put_bytes(names.MODELS, target + name, data)
        digests[name] = hashlib.sha256(data).hexdigest()
    lineage = json.loads(storage.get_bytes(names.MODELS, target + "lineage.json")[0])
    marker = {
        "version": version,
        "model": model,
        "run_id": run_id,
        "committed_at": utcnow(),
        "metrics": json.loads(storage.get_bytes(names.MODELS, target + "metrics.json")[0]),
        "data_version": (lineage.get("data") or {}).get("version"),
        "commit": (lineage.get("code") or {}).get("commit"),
        "sha256": digests,
    }
    try:
        storage.create_json(names.MODELS, target + COMMIT_MARKER, marker)
    except ConditionFailed:
        pass  # a concurrent redelivery committed the same run's files first
    return version


def _version_lineage(storage: Storage, target: str, staged: bytes, version: int,
                     extra: dict[str, Any] | None) -> bytes:
    """The version's lineage.json: the staged lineage with the version and when it was registered,
    written only if absent; the bytes stored (this call's, or an earlier or concurrent call's)."""
    lineage = json.loads(staged)
    lineage.update(extra or {}, version=version, registered_at=utcnow())
    data = json.dumps(lineage, indent=1, sort_keys=True).encode()
    try:
        storage.put_bytes(names.MODELS, target + "lineage.json", data, if_absent=True)
        return data
    except ConditionFailed:
        return storage.get_bytes(names.MODELS, target + "lineage.json")[0]


def move_alias(
    storage: Storage,
    model: str,
    alias: str,
    version: int,
    *,
    why: str,
    by: str,
    run_id: str | None = None,
    percent: int | None = None,
    code: dict[str, Any] | None = None,
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Point an alias at a release, with history; returns the new aliases document.

    A release is a committed version plus the code whose inference serves it: `code` (the snapshot of
    an app-code run), or, when None, the code the version was trained from. Moving `production` keeps
    the release it replaces as `previous`, and clears a `canary` that pointed at the promoted version.
    Setting an alias to what it already is writes nothing. `identity` (how `by` was proven,
    shared.chain.approvers.Identity) is kept on the history entries of a person's move.
    """
    if alias not in ALIASES:
        raise ValueError(f"unknown alias {alias!r}; expected one of {', '.join(ALIASES)}.")
    _committed(storage, model, version)
    current = aliases(storage, model)[0]["aliases"].get(alias)
    if _same(current, version, run_id, percent, code):
        return aliases(storage, model)[0]

    def change(document):
        document = document or {"aliases": {}, "history": []}
        now = utcnow()
        table = document["aliases"]
        before = table.get(alias)
        if _same(before, version, run_id, percent, code):
            return document
        entry = {"version": int(version), "since": now, "run_id": run_id}
        if percent is not None:
            entry["percent"] = int(percent)
        if code is not None:
            entry["code"] = code
        table[alias] = entry
        _history(document, now, alias, before, version, why, by, run_id, identity=identity)
        if alias == "production" and before is not None and (before["version"], before.get("code")) != (version, code):
            old_previous = table.get("previous")
            table["previous"] = {"version": before["version"], "since": now, "run_id": before.get("run_id")}
            if before.get("code") is not None:
                table["previous"]["code"] = before["code"]
            _history(document, now, "previous", old_previous, before["version"], why, by, run_id, identity=identity)
        canary = table.get("canary")
        if alias == "production" and canary is not None and (canary["version"], canary.get("code")) == (version, code):
            del table["canary"]
            _history(document, now, "canary", canary, None, f"promoted: {why}", by, run_id, identity=identity)
        return document

    return storage.update_json(names.MODELS, aliases_blob(model), change)


def remove_alias(storage: Storage, model: str, alias: str, *, why: str, by: str, run_id: str | None = None) -> bool:
    """Clear an alias (e.g. a rolled-back canary); returns False when it was not set."""
    removed = {"value": False}

    def change(document):
        document = document or {"aliases": {}, "history": []}
        before = document["aliases"].pop(alias, None)
        removed["value"] = before is not None
        if before is not None:
            _history(document, utcnow(), alias, before, None, why, by, run_id)
        return document

    if aliases(storage, model)[0]["aliases"].get(alias) is None:
        return False
    storage.update_json(names.MODELS, aliases_blob(model), change)
    return removed["value"]


def rollback(storage: Storage, model: str, *, why: str, by: str, to: int | None = None,
             identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """Move `production` back to `previous`, or to the committed version `to` (any registered one);
    the new `previous` is the production before the target last served, skipping versions that were
    rolled back from. Raises NoPrevious when there is nothing to go back to, UnknownVersion for a `to`
    never committed, StateConflict when `to` serves already."""
    if to is not None:
        _committed(storage, model, to)

    def change(document):
        table = (document or {"aliases": {}})["aliases"]
        previous = table.get("previous")
        production = table.get("production")
        if production is None or (to is None and previous is None):
            raise NoPrevious(f"model {model} has no previous version to roll back to.")
        if to is None or (previous is not None and previous["version"] == to):
            target = previous
        elif production["version"] == to:
            raise StateConflict(f"model {model} v{to} is production already; nothing to roll back.")
        else:
            target = {"version": int(to), "run_id": None}  # served with the code it was trained from
        now = utcnow()
        history = document["history"]
        rolled_back = {h["from"] for h in history if h.get("rollback")} | {production["version"]}
        earlier = next(
            (
                h["from"]
                for h in reversed(history)
                if h["alias"] == "production" and h["to"] == target["version"] and not h.get("rollback")
                and h["from"] is not None and h["from"] not in rolled_back and h["from"] != target["version"]
            ),
            None,
        )
        table["production"] = {"version": target["version"], "since": now, "run_id": target.get("run_id")}
        if target.get("code") is not None:
            table["production"]["code"] = target["code"]
        _history(document, now, "production", production, target["version"], why, by, None, rollback=True, identity=identity)
        if earlier is None:
            if previous is not None:
                del table["previous"]
                _history(document, now, "previous", previous, None, why, by, None, rollback=True, identity=identity)
        else:
            table["previous"] = {"version": earlier, "since": now, "run_id": None}
            _history(document, now, "previous", previous, earlier, why, by, None, rollback=True, identity=identity)
        canary = table.get("canary")
        if canary is not None and canary["version"] == target["version"]:
            del table["canary"]
            _history(document, now, "canary", canary, None, f"rolled back to: {why}", by, None, rollback=True, identity=identity)
        return document

    return storage.update_json(names.MODELS, aliases_blob(model), change)


# -- helpers ---------------------------------------------------------------------------------


def _committed(storage: Storage, model: str, version: int) -> dict[str, Any]:
    document = storage.read_json(names.MODELS, version_prefix(model, version) + COMMIT_MARKER)
    if document is None:
        raise UnknownVersion(f"model {model} has no committed version {version}.")
    return document.value


def _read_json(storage: Storage, model: str, version: int, name: str) -> Any:
    document = storage.read_json(names.MODELS, version_prefix(model, version) + name)
    return None if document is None else document.value


def _same(entry: dict[str, Any] | None, version: int, run_id: str | None, percent: int | None,
          code: dict[str, Any] | None = None) -> bool:
    return (
        entry is not None
        and entry["version"] == version
        and entry.get("run_id") == run_id
        and entry.get("percent") == percent
        and entry.get("code") == code
    )


def _history(document, at, alias, before, to, why, by, run_id, *, rollback: bool = False,
             identity: dict[str, Any] | None = None) -> None:
    entry = {
        "at": at,
        "alias": alias,
        "from": None if before is None else before["version"],
        "to": to,
        "why": why,
        "by": by,
        "run_id": run_id,
    }
    if rollback:
        entry["rollback"] = True
    if identity is not None:
        entry["identity"] = identity
    document["history"].append(entry)  # every move is kept: the audit trail of what served when


def register_run(storage: Storage, message) -> dict[str, Any]:
    """The register step: the run's staged artifacts become a committed version, marked `candidate`."""
    from shared.chain.states import RunStatus, StopRun

    try:
        version = register(storage, message.model, message.run_id)
    except BlobNotFound as error:
        raise StopRun(RunStatus.FAILED, f"nothing to register: {error}; the retrain step must stage artifacts first.") from None
    move_alias(storage, message.model, "candidate", version, why=message.reason, by="driftline",
               run_id=message.run_id)
    return {"version": version}

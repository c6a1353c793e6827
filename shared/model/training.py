"""Training: labeled data in, staged model artifacts out (the retrain step runs it, here or in Azure ML).

1. Read the dataset (`load_labeled`): the labeled files intake accepted (`shared.model.datasets`:
   once per content, windowed, feedback capped), or the blobs a manifest names (`payload["blobs"]`),
   each read and checked again with intake's own reader and checks (`shared.model.labeled`). A file
   that fails now is left out and listed with the reason in the lineage; no usable file stops the run.
2. The data version is a sha256 over the files' content hashes: the same content gives the same
   version whatever the names. A retrain whose dataset, code and parameters are those of the version
   in production registers nothing (`unchanged_since_production`): the run ends "skipped" saying so.
3. Split off the held-out rows by a hash of each row's content (not by position or a random draw), so a
   row stays on the same side as the data grows: the production model, trained on an earlier version,
   has not seen the rows the next version is tested on.
4. Decide the task (classification or regression, `shared.model.tasks.resolve`: driftline.toml, then
   DRIFTLINE_TASK, then production's, then detected from the target) and check the split can train it
   (a classifier needs two classes, a regressor a numeric target with two distinct values); the entry
   point gets it as `params["task"]`.
5. Call the training entry point — the data scientist's `package.module:function` named by
   DRIFTLINE_TRAINING_ENTRY_POINT, or `shared.model.default_model:train` — as fn(frame, params) ->
   (fitted estimator, metrics).
6. Stage `model.skops`, `profile.json` (reference drift profile of the training features),
   `metrics.json`, `lineage.json`, `schema.json` and `holdout.parquet` under
   `models/<name>/staging/<run_id>/`; the register step makes them a version.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import json
import traceback
import platform
import time
from dataclasses import dataclass, field
from typing import Any

from shared.model import tasks
from shared.chain.states import RunStatus, StopRun
from shared.model import datasets, registry
from shared.platform import names
from shared.platform.clock import utcnow
from shared.platform.errors import BlobNotFound
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage
from shared.repo.config import DataSection

DEFAULT_ENTRY_POINT = "shared.model.default_model:train"


@dataclass
class LabeledData:
    frame: Any  # pandas.DataFrame
    files: list[dict[str, Any]] = field(default_factory=list)  # the manifest: name, etag, sha256, rows, ...
    excluded: list[dict[str, str]] = field(default_factory=list)  # name, reason
    version: str = ""


def dataset_window(settings: Settings, data: DataSection | None = None) -> datasets.Window:
    """driftline.toml [data] of the run's commit first, then the settings (0: no limit)."""
    age = (data.max_age_days if data else None) or settings.dataset_max_age_days or None
    rows = (data.max_rows if data else None) or settings.dataset_max_rows or None
    return datasets.Window(max_age_days=age, max_rows=rows)


def load_labeled(storage: Storage, settings: Settings, manifest: list[str] | None = None, *,
                 data: DataSection | None = None) -> LabeledData:
    """The run's dataset: what intake accepted (`shared.model.datasets`, windowed, feedback capped), or
    the blobs a manifest names. Each file is read and checked again as intake did (`labeled`); a file
    that fails now (changed since intake, or against the contract of today's production model) is
    left out with the reason, never failing the run. No usable file stops it."""
    import pandas as pd

    from shared.model.labeled import BadFile, FileLimits, check_labeled, read_labeled

    model, target = settings.model_name, settings.target_column
    new_columns = frozenset(settings.new_columns) | frozenset(data.new_columns if data else ())
    contract = production_contract(storage, model, new_columns)
    result = LabeledData(frame=None)
    if manifest is not None:
        if not isinstance(manifest, list) or not all(isinstance(n, str) for n in manifest):
            raise StopRun(RunStatus.FAILED, "payload 'blobs' must be a list of blob names in the datalake container.")
        candidates = []
        for name in sorted(set(manifest)):
            problem = names.lake_name_problem(name)
            if problem is not None:  # not read: it could resolve to another blob, or fail every run
                result.excluded.append({"name": name, "reason": problem})
                continue
            etag = storage.etag(names.DATALAKE, name)
            if etag is None:
                raise StopRun(RunStatus.FAILED, f"the manifest names datalake/{name}, which does not exist.")
            candidates.append(datasets.DatasetFile(name, etag.strip('"'), "", 0, utcnow()))
    else:
        selection = datasets.select(datasets.entries(storage, model), dataset_window(settings, data),
                                    feedback_max_share=settings.feedback_max_share)
        candidates, result.excluded = selection.files, list(selection.left_out)
    limits = FileLimits(max_bytes=settings.labeled_max_bytes, max_columns=settings.labeled_max_columns)
    frames, seen, columns = [], set(), None
    for file in candidates:
        try:
            # With blob versioning the accepted version itself is read, even after the blob changed.
            with storage.open_stream(names.DATALAKE, file.name, version_id=file.version_id) as stream:
                frame, sha256 = read_labeled(stream, file.name, limits)
            if file.sha256 and sha256 != file.sha256:
                raise BadFile("its content changed since intake accepted it (the new upload is its own entry)")
            if sha256 in seen:
                raise BadFile("the same content as another file of this dataset")
            checked = check_labeled(frame, sha256, target, contract)
            these = sorted(map(str, checked.frame.columns))
            if columns is not None and these != columns:
                raise BadFile(f"its columns differ from the dataset's ({', '.join(sorted(set(these) ^ set(columns)))})")
        except BadFile as problem:
            result.excluded.append({"name": file.name, "reason": str(problem)})
            continue
        except BlobNotFound:
            result.excluded.append({"name": file.name, "reason": "deleted since intake accepted it"})
            continue
        columns = columns or these
        seen.add(sha256)
        frames.append(checked.frame)
        result.files.append({"name": file.name, "etag": file.etag, "version_id": file.version_id,
                             "sha256": sha256, "rows": checked.rows, "feedback": file.feedback})
    if not frames:
        where = "the manifest's blobs" if manifest is not None else "the dataset (the labeled files intake accepted)"
        raise StopRun(RunStatus.FAILED, f"no usable labeled data in {where}: upload files with the {target!r} "
                                        f"column ({len(result.excluded)} left out).")
    result.frame = pd.concat(frames, ignore_index=True)
    result.version = datasets.version(f["sha256"] for f in result.files)
    return result


def production_contract(storage: Storage, model: str, new_columns: frozenset[str]):
    """The contract labeled files are held to: the production model's schema, with the new columns
    given here and those the driftline.toml production was trained from declares; None when nothing
    serves."""
    from shared.model.code import trained_with
    from shared.model.labeled import schema_contract

    version = registry.resolve(storage, model, "production")
    if version is None:
        return None
    config = trained_with(storage, model, version)
    declared = frozenset(config.data.new_columns) if config is not None else frozenset()
    return schema_contract(registry.read_artifact(storage, model, version, "schema.json"), new_columns | declared)


def dataset_of_run(storage: Storage, settings: Settings, message: StepMessage) -> LabeledData:
    """The dataset this retrain trains on, with the window and new columns of the run's commit; StopRun
    "skipped" when training it would only repeat production."""
    config = None
    if isinstance(message.payload.get("code"), dict):
        from shared.model.code import checked_config, snapshot_of
        from shared.repo.workspace import checkout

        config = checked_config(checkout(storage, snapshot_of(storage, message)), settings, message)
    data = load_labeled(storage, settings, message.payload.get("blobs"), data=None if config is None else config.data)
    declared = (config.model.task if config is not None else None) or (None if settings.task == "auto" else settings.task)
    same = unchanged_since_production(storage, settings, message, data, training_params(settings, config), declared)
    if same:
        raise StopRun(RunStatus.SKIPPED, same)
    return data


def unchanged_since_production(storage: Storage, settings: Settings, message: StepMessage,
                               data: LabeledData, params: dict[str, Any], task: str | None = None) -> str | None:
    """Why this retrain would only repeat the production model (same dataset, code, parameters and
    declared task), or None when something differs and training is worth it. (An undeclared task
    follows production's, so only a declared one can differ.)"""
    version = registry.resolve(storage, message.model, "production")
    if version is None:
        return None
    lineage = registry.version_info(storage, message.model, version)["lineage"] or {}
    trained_params = {k: v for k, v in (lineage.get("parameters") or {}).items() if k != "task"}
    if (lineage.get("data") or {}).get("version") != data.version or trained_params != params:
        return None
    if task is not None and task != ((lineage.get("task") or {}).get("task") or "classification"):
        return None
    trained, code = lineage.get("code") or {}, message.payload.get("code")
    if isinstance(code, dict):
        same = trained.get("snapshot") == code.get("snapshot")
        what = f"commit {str(code.get('commit'))[:7]}"
    else:
        entry = entry_point(settings.training_entry_point)
        same = (trained.get("kind"), trained.get("entry_point"), trained.get("source_sha256")) == \
            ("app", entry.spec, entry.source_sha256)
        what = entry.spec
    if not same:
        return None
    return (f"nothing new to learn: the dataset ({data.version[:12]}, {len(data.files)} files), the code "
            f"({what}) and the parameters are those production v{version} was trained on")


def training_params(settings: Settings, config: Any | None) -> dict[str, Any]:
    """The parameters the entry point is called with: the commit's [training] params, else the settings'."""
    given = config.training.params if config is not None else settings.training_params
    target = config.model.target if config is not None else settings.target_column
    return {"seed": 0, **given, "target_column": target}


def split_holdout(frame, percent: int):
    """(train, holdout): a row is held out when the hash of its content falls below `percent`."""
    import pandas as pd

    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    held = (hashes % 100) < percent
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


@dataclass(frozen=True)
class EntryPoint:
    spec: str
    function: Any
    source_sha256: str | None


def entry_point(spec: str | None) -> EntryPoint:
    """Import `package.module:function`; the code hash is the sha256 of the module's source file."""
    spec = spec or DEFAULT_ENTRY_POINT
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, attribute)
    except (ImportError, AttributeError) as error:
        raise StopRun(RunStatus.FAILED, f"the training entry point {spec} cannot be loaded: {error}.") from None
    source_file = inspect.getsourcefile(module)
    try:
        with open(source_file or "", "rb") as source:
            digest: str | None = hashlib.sha256(source.read()).hexdigest()
    except OSError:
        digest = None
    return EntryPoint(spec, function, digest)


def input_schema(frame, target: str, task: tasks.Task = tasks.Task.CLASSIFICATION) -> dict[str, Any]:
    """What the scoring contract checks: feature names and dtypes, the task, the target dtype and,
    for a classifier only, its classes."""
    features = [column for column in frame.columns if column != target]
    schema: dict[str, Any] = {
        "target": target,
        "task": str(task),
        "target_dtype": str(frame[target].dtype),
        "features": [{"name": column, "dtype": str(frame[column].dtype)} for column in features],
    }
    if task is tasks.Task.CLASSIFICATION:
        schema["classes"] = sorted(frame[target].unique().tolist(), key=str)
    return schema


def production_task(storage: Storage, model: str) -> tasks.Task | None:
    """The task of the production version, None without one."""
    version = registry.resolve(storage, model, "production")
    return None if version is None else tasks.task_of(registry.version_info(storage, model, version)["schema"])


def check_trainable(frame, train, holdout, target: str, task: tasks.Task, percent: int) -> None:
    """Stop the run when the split cannot train and judge a model of `task`."""
    import pandas as pd

    if task is tasks.Task.REGRESSION and (pd.api.types.is_bool_dtype(frame[target])
                                          or not pd.api.types.is_numeric_dtype(frame[target])):
        raise StopRun(RunStatus.FAILED, f"the target {target!r} holds {frame[target].dtype} values, but a regression "
                                        "model needs numbers: fix the labels or declare the task classification.")
    if train.empty or holdout.empty or train[target].nunique() < 2:
        need = "both classes" if task is tasks.Task.CLASSIFICATION else "two distinct target values"
        raise StopRun(RunStatus.FAILED, f"{len(frame)} labeled rows are too few to train and hold out "
                                        f"{percent}% (need {need} and both parts non-empty).")


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "skops": skops.__version__,
    }


def train_and_stage(storage: Storage, settings: Settings, message: StepMessage, data: LabeledData,
                    *, load_seconds: float = 0.0, compute: str = "local") -> dict[str, Any]:

    from shared.drift import DriftConfig, build_profile
    from shared.model.metrics import quality_of

    target = settings.target_column
    train, holdout = split_holdout(data.frame, settings.holdout_percent)
    production = production_task(storage, message.model)

    def decide(declared: str | None) -> tasks.Resolved:
        resolved = tasks.resolve(data.frame[target], declared=declared, setting=settings.task, production=production)
        check_trainable(data.frame, train, holdout, target, resolved.task, settings.holdout_percent)
        return resolved

    features = [column for column in data.frame.columns if column != target]
    timings = {"load_s": round(load_seconds, 3)}
    clock = time.perf_counter()
    code = message.payload.get("code")
    if isinstance(code, dict):
        fitted = _fit_from_snapshot(storage, settings, message, code, train, holdout[features], decide)
    else:
        fitted = _fit_in_process(settings, train, holdout[features], decide)
    task = fitted.task.task
    timings["train_s"] = round(time.perf_counter() - clock, 3)
    clock = time.perf_counter()
    profile = build_profile(data.frame[features], name=f"{message.model}-training",
                            config=DriftConfig.from_mapping(settings.drift_config))
    timings["profile_s"] = round(time.perf_counter() - clock, 3)
    try:
        predicted = fitted.predictions
        holdout_metrics = quality_of(holdout[target], predicted["predictions"], predicted["probabilities"],
                                     predicted["classes"], task)
    except Exception as error:  # recorded; the test step's gates reject such a model
        holdout_metrics = {"error": f"{type(error).__name__}: {error}"}
    holdout_bytes = io.BytesIO()
    holdout.to_parquet(holdout_bytes, index=False)
    schema = input_schema(data.frame, target, task)
    trigger = message.trigger
    lineage = {
        "run_id": message.run_id,
        "model": message.model,
        "trigger": trigger,
        "reason": message.reason,
        "code": fitted.code,
        "data": {
            "version": data.version,
            "files": data.files,
            "excluded": data.excluded,
            "feedback_share": round(sum(f["rows"] for f in data.files if f["feedback"]) / max(len(data.frame), 1), 4),
            "rows": int(len(data.frame)),
            "train_rows": int(len(train)),
            "holdout_rows": int(len(holdout)),
            "holdout_percent": settings.holdout_percent,
        },
        "task": {"task": str(task), "how": fitted.task.how},
        "parameters": fitted.params,
        "libraries": library_versions(),
        "compute": compute,
        "timings": timings,
        "schema": schema,
    }
    metrics = {"training": fitted.metrics, "holdout": holdout_metrics}
    prefix = registry.stage(storage, message.model, message.run_id, {
        "model.skops": fitted.model,
        "profile.json": profile.to_json(),
        "metrics.json": _json(metrics),
        "lineage.json": _json(lineage),
        "schema.json": _json(schema),
        "holdout.parquet": holdout_bytes.getvalue(),
    })
    return {"staging": prefix, "data_version": data.version, "rows": int(len(data.frame)), "compute": compute}


@dataclass(frozen=True)
class Fitted:
    """A trained model as the artifacts record it: skops bytes, what training returned, predictions
    on the held-out features, the parameters, and the code that ran (the lineage's `code`)."""

    model: bytes
    metrics: dict[str, Any]
    predictions: dict[str, Any]  # predictions, probabilities (or None), classes (or None)
    params: dict[str, Any]
    code: dict[str, Any]
    task: tasks.Resolved


def _fit_in_process(settings: Settings, train, holdout_features, decide) -> Fitted:
    """The built-in model, or DRIFTLINE_TRAINING_ENTRY_POINT: code deployed with the app. The lineage
    names the entry point and its source file's hash, and no commit: no repository code ran."""
    import skops.io as sio

    entry = entry_point(settings.training_entry_point)
    task = decide(None)
    params = {**training_params(settings, None), "task": str(task.task)}
    try:
        result = entry.function(train.copy(), dict(params))
    except Exception as error:  # the data scientist's code: a deterministic failure, not retried
        raise StopRun(RunStatus.FAILED, f"the training entry point {entry.spec} raised {type(error).__name__}: {error}",
                      traceback=traceback.format_exc()) from None
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise StopRun(RunStatus.FAILED, f"the training entry point {entry.spec} must return (estimator, metrics dict).")
    estimator, training_metrics = result
    try:
        model_bytes = sio.dumps(estimator)
    except Exception as error:
        raise StopRun(RunStatus.FAILED, f"the fitted model cannot be saved with skops: {type(error).__name__}: {error}") from None
    classifier = task.task is tasks.Task.CLASSIFICATION
    probabilities = estimator.predict_proba(holdout_features) if classifier and hasattr(estimator, "predict_proba") else None
    classes = getattr(estimator, "classes_", None) if classifier else None
    predictions = {"predictions": estimator.predict(holdout_features).tolist(),
                   "probabilities": None if probabilities is None else probabilities.tolist(),
                   "classes": None if classes is None else classes.tolist()}
    code = {"kind": "app", "entry_point": entry.spec, "source_sha256": entry.source_sha256, "commit": None}
    return Fitted(model_bytes, training_metrics, predictions, params, code, task)


def _fit_from_snapshot(storage: Storage, settings: Settings, message: StepMessage, code: dict[str, Any],
                       train, holdout_features, decide) -> Fitted:
    """The repository's entry point from the run's snapshot, in the sandbox. The lineage names the
    commit, the snapshot digest and the sha256 of every snapshot file the training imported, taken
    from the manifest the extracted files were verified against."""
    from shared.model.code import checked_config, snapshot_of
    from shared.repo.train_runner import TrainingFailed, train_in_sandbox
    from shared.repo.workspace import checkout

    snapshot = snapshot_of(storage, message)
    root = checkout(storage, snapshot)
    config = checked_config(root, settings, message)
    task = decide(config.model.task)
    params = {**training_params(settings, config), "task": str(task.task)}
    inference = None if config.inference is None else config.inference.module
    try:
        trained = train_in_sandbox(root, entry_point=config.training.entry_point, params=params,
                                   inference=inference, train=train, holdout_features=holdout_features)
    except TrainingFailed as error:
        raise StopRun(RunStatus.FAILED, str(error), traceback=error.traceback) from None
    hashes = {file.path: file.sha256 for file in snapshot.manifest.files}
    lineage_code = {
        "kind": "repository", "repository": code["repository"], "source": code["source"],
        "commit": snapshot.commit, "snapshot": snapshot.digest, "entry_point": config.training.entry_point,
        "inference": inference, "files": {path: hashes[path] for path in trained.imported if path in hashes},
    }
    return Fitted(trained.model, trained.metrics, trained.predictions, params, lineage_code, task)


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True, default=_plain).encode("utf-8")


def _plain(value: Any) -> Any:
    """numpy scalars and the like in metrics returned by user code."""
    return value.item() if hasattr(value, "item") else str(value)

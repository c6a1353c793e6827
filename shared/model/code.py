"""The code a run executes: which commit, fetched as a snapshot, checked, and its unit tests run.

The fetch step decides the commit, and nothing later changes it:
- a push run fetches exactly the pushed commit (`payload["commit"]`); with no code source configured
  it is skipped with the reason: a commit that cannot be fetched runs nothing;
- a data run (labeled upload, drift, schedule) fetches the commit the production model was trained
  from, or the tip of the first watched branch (DRIFTLINE_BRANCHES) when nothing serves or that model
  was not trained from the repository; with no code source it records that the built-in model trains.
The snapshot is stored once per commit (`shared.repo.snapshots`), its `driftline.toml` must be valid
and name this app's model and target, and the repository's declared requirements must be met by the
app's environment; otherwise the run stops with the reason. The step's output `code` (repository key,
source, commit, snapshot digest) travels in the payload to every later step.

The unit-test step runs the repository's `[tests] unit` suite from the snapshot in the sandbox
(`shared.repo.testrun`); the JUnit XML is kept at `runs/junit/<run_id>/unit.xml` and the counts and
failing test ids are the step's outputs. Any failure ends the run "rejected", naming the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.chain.states import RunStatus, StopRun
from shared.model import registry
from shared.platform import names
from shared.platform.messages import StepMessage
from shared.platform.settings import Settings
from shared.platform.storage import Storage
from shared.repo.archives import SnapshotError, snapshot_limits
from shared.repo.config import RepoConfig, RepoConfigError, load_config
from shared.repo.fetch import SourceError
from shared.repo.inference import Predictor, estimator_predictor, load_predictor
from shared.repo.requirements import unmet_requirements
from shared.repo.snapshots import Snapshot, ensure_snapshot, read_snapshot
from shared.repo.sources import CodeSource, code_source
from shared.repo.testrun import Candidate, TestReport, run_integration_tests, run_unit_tests
from shared.repo.workspace import checkout, repository_key

# Answers of a provider that a retry cannot change: the run stops instead of being retried.
PERMANENT = (400, 401, 403, 404, 410, 422)


def fetch(storage: Storage, settings: Settings, message: StepMessage) -> dict[str, Any]:
    """The fetch step's outputs: {"code": {...}} (None for the built-in model); StopRun otherwise."""
    source = code_source(settings)
    pushed = message.trigger.get("kind") == "push"
    if source is None:
        if pushed:
            raise StopRun(RunStatus.SKIPPED, "no code source is configured (DRIFTLINE_CODE_SOURCE), so the pushed "
                                             "commit cannot be fetched and none of its code runs.")
        return {"code": None}
    key = repository_key(source)
    try:
        commit, why = _commit(storage, settings, message, source, key)
        snapshot = ensure_snapshot(storage, source, key, commit, snapshot_limits(settings))
    except SourceError as error:
        if error.status in PERMANENT:
            raise StopRun(RunStatus.FAILED, f"the code cannot be fetched: {error}") from None
        raise  # unreachable or throttled: the host retries the message
    except SnapshotError as error:
        raise StopRun(RunStatus.FAILED, f"the snapshot of the commit is refused: {error}") from None
    config = checked_config(checkout(storage, snapshot), settings, message)  # once here: later steps rely on it
    return {"code": {"kind": "repository", "repository": key, "source": source.name, "commit": snapshot.commit,
                     "snapshot": snapshot.digest, "files": len(snapshot.manifest.files), "chosen": why,
                     "inference": None if config.inference is None else config.inference.module}}


def _commit(storage: Storage, settings: Settings, message: StepMessage, source: CodeSource,
            key: str) -> tuple[str, str]:
    """The commit this run executes, and why that one."""
    pushed = message.payload.get("commit")
    if message.trigger.get("kind") == "push":
        if not isinstance(pushed, str):
            raise StopRun(RunStatus.FAILED, "the push run's payload names no commit.")
        return pushed, "the pushed commit"
    production = registry.resolve(storage, message.model, "production")
    if production is not None:
        code = (registry.version_info(storage, message.model, production)["lineage"] or {}).get("code") or {}
        if code.get("repository") == key and isinstance(code.get("commit"), str):
            return code["commit"], f"the code of production v{production}"
    branch = settings.branches[0]
    return source.resolve(branch), f"the tip of {branch} (nothing in production was trained from the repository)"


def checked_config(root: Path, settings: Settings, message: StepMessage) -> RepoConfig:
    """The snapshot's driftline.toml, valid and naming this app's model and target; StopRun otherwise."""
    try:
        config = load_config(root)
    except RepoConfigError as error:
        raise StopRun(RunStatus.FAILED, str(error)) from None
    if config.model.name != message.model:
        raise StopRun(RunStatus.FAILED, f"driftline.toml names model {config.model.name!r}, but this app serves "
                                        f"{message.model!r} (DRIFTLINE_MODEL_NAME); make them the same.")
    if config.model.target != settings.target_column:
        raise StopRun(RunStatus.FAILED, f"driftline.toml names target {config.model.target!r}, but this app's "
                                        f"labeled data uses {settings.target_column!r} (DRIFTLINE_TARGET_COLUMN).")
    if (root / "shared").is_dir() or (root / "shared.py").is_file():
        raise StopRun(RunStatus.FAILED, "the repository has a top-level `shared`, the name of Driftline's own "
                                        "package, which the sandbox imports beside your code; rename it.")
    unmet = unmet_requirements(root)
    if unmet:
        raise StopRun(RunStatus.FAILED, "; ".join(u.message for u in unmet) + ".")
    return config


def snapshot_of(storage: Storage, message: StepMessage) -> Snapshot:
    """The snapshot the fetch step recorded for this run."""
    code = message.payload.get("code")
    if not isinstance(code, dict):
        raise StopRun(RunStatus.FAILED, "this step needs the code the fetch step recorded; the payload has none.")
    try:
        return _recorded(storage, code)
    except SnapshotError as error:
        raise StopRun(RunStatus.FAILED, f"{error} since fetch.") from None


def _recorded(storage: Storage, code: dict[str, Any]) -> Snapshot:
    """The stored snapshot a `code` record names, unchanged since it was recorded."""
    snapshot = read_snapshot(storage, code["repository"], code["commit"])
    if snapshot is None or snapshot.digest != code["snapshot"]:
        raise SnapshotError(f"the snapshot of commit {code['commit']} is gone or changed")
    return snapshot


def _release_code(storage: Storage, model: str, version: int,
                  code: dict[str, Any] | None) -> tuple[Path, dict[str, Any]] | None:
    """(checkout folder, code record) of the repository code a version runs with: `code` (an app-code
    run's snapshot), else the snapshot it was trained from; None when it was not trained from it."""
    if code is None:
        code = (registry.version_info(storage, model, version)["lineage"] or {}).get("code") or {}
    if code.get("kind", "repository") != "repository" or "snapshot" not in code:
        return None
    return checkout(storage, _recorded(storage, code)), code


def trained_with(storage: Storage, model: str, version: int) -> RepoConfig | None:
    """The driftline.toml of the commit version `version` was trained from, or None (built-in model,
    or a snapshot that can no longer be read)."""
    try:
        release = _release_code(storage, model, version, None)
        return None if release is None else load_config(release[0])
    except (SnapshotError, RepoConfigError):
        return None


def predictor_for(storage: Storage, model: str, version: int, code: dict[str, Any] | None = None) -> Predictor:
    """How version `version` scores a frame: through the `[inference]` module of the snapshot it was
    trained from (or of `code`, the snapshot of an app-code run), else the estimator's own methods."""
    estimator = registry.load_estimator(storage, model, version)
    release = _release_code(storage, model, version, code)
    if release is None:
        return estimator_predictor(estimator)
    root, code = release
    module = code["inference"] if "inference" in code else _inference_module(root)
    return load_predictor(root, module, estimator)


def _inference_module(root: Path) -> str | None:
    config = load_config(root)
    return None if config.inference is None else config.inference.module


def integration_tests(storage: Storage, run_id: str, model: str, version: int,
                      code: dict[str, Any] | None = None) -> TestReport | None:
    """The repository's `[tests] integration` suite against `version`, from the snapshot it was trained
    from (or `code`'s, for an app-code run), in the sandbox with Driftline's fixtures; None when the
    version's code is not the repository's."""
    release = _release_code(storage, model, version, code)
    if release is None:
        return None
    root, _ = release
    info = registry.version_info(storage, model, version)
    candidate = Candidate(model=registry.read_artifact(storage, model, version, "model.skops"),
                          holdout=registry.read_artifact(storage, model, version, "holdout.parquet"),
                          trusted_prefixes=registry.trusted_prefixes_for(info["lineage"]))
    return run_integration_tests(root, load_config(root), candidate)


def junit_blob(run_id: str, kind: str) -> str:
    return f"junit/{run_id}/{kind}.xml"


def report_outputs(storage: Storage, run_id: str, report: TestReport) -> dict[str, Any]:
    """A test report as step outputs, with its JUnit XML kept beside the run."""
    blob = None
    if report.junit_xml:
        blob = junit_blob(run_id, report.kind)
        storage.put_bytes(names.RUNS, blob, report.junit_xml, content_type="application/xml")
    return {"passed": report.passed, "failed": report.failed, "errors": report.errors, "skipped": report.skipped,
            "duration_s": round(report.duration_s, 3), "failing": list(report.failing), "path": report.path,
            "junit": None if blob is None else f"{names.RUNS}/{blob}", "summary": report.summary}


def unit_tests(storage: Storage, settings: Settings, message: StepMessage) -> dict[str, Any]:
    """The unit-test step's outputs; StopRun(REJECTED) naming the failing tests."""
    root = checkout(storage, snapshot_of(storage, message))
    report = run_unit_tests(root, checked_config(root, settings, message))
    outputs = {"unit_tests": report_outputs(storage, message.run_id, report)}
    if not report.ok:
        raise StopRun(RunStatus.REJECTED, report.summary, outputs)
    return outputs

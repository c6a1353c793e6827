"""The end-to-end demo, driven from outside the running app (devhost or `func start`) over its
public surfaces only: a git repository, signed push webhooks, blob uploads to the lake, the HTTP API,
and the run records in storage.

The app watches a local git repository made from examples/churn (DRIFTLINE_CODE_SOURCE=git:, set by
`./driftline start --demo`):
1. upload labeled training data -> fetch the branch tip, train its code, test, deploy: version 1
2. score a few records through POST /api/score
3. upload a production batch like the training data -> drift report, no drift
4. upload a drifted batch -> drift report; no new labels yet, so nothing retrains: labels needed
5. upload labeled rows of the new segment -> the retrain the drift waited for -> version 2, trained on
   a dataset (and with metrics) that differ from version 1's
6. upload a malformed file -> quarantined with a reason, original untouched
7. push a training-code commit -> unit tests, train, integration tests, deploy; the lineage names it
8. push an inference-code commit -> a new release of the production version; scores show its code
9. push a commit that fails a unit test -> rejected, production untouched

Each demo gets a model of its own (`churn-demo-<time>`), so running it again on the same emulator data
starts from nothing rather than from what an earlier demo trained.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from devtools.azurite import ROOT
from shared.chain import runs
from shared.chain.states import FINAL_RUN
from shared.events import lake
from shared.platform import names, signatures
from shared.platform.context import settings as app_settings
from shared.platform.context import storage as app_storage
from shared.platform.storage import Storage

SAMPLES = ROOT / "sample_data"
EXAMPLE = ROOT / "examples" / "churn"
DEMO_REPOSITORY = ROOT / ".demo-repo"  # the watched repository of the demo (git-ignored)
TIMEOUT = 300
GIT_ENV = {"GIT_AUTHOR_NAME": "Data Scientist", "GIT_AUTHOR_EMAIL": "ds@example.com",
           "GIT_COMMITTER_NAME": "Data Scientist", "GIT_COMMITTER_EMAIL": "ds@example.com"}


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def say(text: str) -> None:
    print(f"\033[1m[demo]\033[0m {text}", flush=True)


def upload(storage: Storage, local: Path, name: str) -> str:
    etag = storage.put_bytes(names.DATALAKE, name, local.read_bytes())
    say(f"uploaded {local.relative_to(ROOT)} -> {names.DATALAKE}/{name}")
    return etag.strip('"')


def wait_for_receipt(storage: Storage, name: str, etag: str) -> dict[str, Any]:
    """The lake trigger's record of what it did with this upload."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        outcome = lake.read_receipt(storage, name, etag)
        if outcome is not None:
            return outcome
        time.sleep(0.5)
    raise SystemExit(f"the app did not pick up {name} within {TIMEOUT} s; see the app's log")


def follow_run(storage: Storage, run_id: str) -> dict[str, Any]:
    """Print the run's events as they happen until it ends (or waits for a person)."""
    seen = 0
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        run = runs.get_run(storage, run_id)
        if run is not None:
            for event in run["events"][seen:]:
                step = event["step"] or "run"
                say(f"  {run_id[:8]} {step:<9} {event['status']:<10} {event['detail']}")
            seen = len(run["events"])
            if run["status"] in FINAL_RUN or run["status"] == "waiting":
                return run
        time.sleep(0.5)
    raise SystemExit(f"run {run_id} did not finish within {TIMEOUT} s")


def score(base: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = requests.post(f"{base}/api/score", json={"records": records}, timeout=30)
    response.raise_for_status()
    return response.json()


def sample_records(count: int) -> list[dict[str, Any]]:
    with open(SAMPLES / "incoming" / "batch-ok.csv", newline="") as handle:
        rows = [row for _, row in zip(range(count), csv.DictReader(handle))]
    return [{key: _number_or_text(value) for key, value in row.items()} for row in rows]


def _number_or_text(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def deploy_from_upload(storage: Storage, local: Path, name: str) -> dict[str, Any]:
    etag = upload(storage, local, name)
    receipt = wait_for_receipt(storage, name, etag)
    say(f"lake trigger: {receipt['action']} ({receipt['detail']})")
    if not receipt.get("run_id"):
        return receipt
    run = follow_run(storage, receipt["run_id"])
    if run["status"] != "succeeded":
        raise SystemExit(f"run {run['run_id']} ended {run['status']}: {run['events'][-1]['detail']}")
    return {**receipt, "run": run}


class Repository:
    """The demo's watched repository: a git repository made from examples/churn at `path`."""

    def __init__(self, path: Path):
        self.path = path

    def git(self, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=self.path, env={**os.environ, **GIT_ENV},
                                capture_output=True, text=True, check=True)
        return result.stdout.strip()

    def make(self, model: str) -> str:
        """A fresh repository from examples/churn, its model named as the app's; returns HEAD."""
        shutil.rmtree(self.path, ignore_errors=True)
        shutil.copytree(EXAMPLE, self.path, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        config = self.path / "driftline.toml"
        config.write_text(config.read_text().replace('name = "churn"', f'name = "{model}"'))
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "the churn model")
        return self.git("rev-parse", "HEAD")

    def read(self, path: str) -> str:
        return (self.path / path).read_text()


def commit_and_push(base: str, repository: Repository, message: str, files: dict[str, str]) -> str:
    """Commit `files` (path -> new text) and deliver the push as GitHub would; returns the run id."""
    git = repository.git
    before = git("rev-parse", "HEAD")
    for path, text in files.items():
        (repository.path / path).parent.mkdir(parents=True, exist_ok=True)
        (repository.path / path).write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", message)
    after = git("rev-parse", "HEAD")
    say(f"commit {after[:7]} ({message}) changes {', '.join(files)}; pushing")
    body = json.dumps({
        "ref": "refs/heads/main", "before": before, "after": after, "repository": {"full_name": "demo/churn"},
        "head_commit": {"id": after},
        "commits": [{"id": after, "added": [], "modified": sorted(files), "removed": []}],
    }).encode()
    delivery = str(uuid.uuid4())
    secret = app_settings().github_secret or ""
    response = requests.post(f"{base}/api/hooks/github", data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signatures.sign(secret, body)})
    say(f"POST /api/hooks/github -> {response.status_code} {response.json()}")
    return response.json()["run_id"]  # derived from the pushed range, not the delivery


def follow_push(storage: Storage, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while runs.get_run(storage, run_id) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"the push did not start run {run_id} within {TIMEOUT} s; see the app's log")
        time.sleep(0.5)
    return follow_run(storage, run_id)


def demo_settings(repository: Path = DEMO_REPOSITORY) -> dict[str, str]:
    """The app settings the demo needs on top of local.settings.json: uploads land seconds apart (a
    short coalescing window keeps it quick), the app watches the demo's repository, and the model is
    this demo's own."""
    return {"DRIFTLINE_RETRAIN_COALESCE_SECONDS": "5", "DRIFTLINE_CODE_SOURCE": f"git:{repository}",
            "DRIFTLINE_MODEL_NAME": f"churn-demo-{time.strftime('%Y%m%d%H%M%S')}"}


def run_demo(base: str, repository_path: Path = DEMO_REPOSITORY) -> None:
    """Drive the app at `base` through the eight steps; SystemExit naming the step that went wrong."""
    storage, model = app_storage(), app_settings().model_name
    stamp = time.strftime("%Y%m%dT%H%M%S")
    repository = Repository(repository_path)
    tip = repository.make(model)
    say(f"the watched repository: {_shown(repository_path)} (examples/churn), main at {tip[:7]}")

    say("step 1/9: new labeled training data lands in the lake")
    deploy_from_upload(storage, SAMPLES / "labeled" / "customers.csv", f"labeled/demo-{stamp}/customers.csv")
    overview = requests.get(f"{base}/api/models/{model}", timeout=30).json()
    first = overview["aliases"]["production"]["version"]
    say(f"{model} version {first} is in production")

    say("step 2/9: the app scores requests with the production model")
    answer = score(base, sample_records(3))
    say(f"POST /api/score -> version {answer['version']}, predictions {answer['predictions']}")

    say("step 3/9: a production batch like the training data arrives")
    etag = upload(storage, SAMPLES / "incoming" / "batch-ok.csv", f"incoming/demo-{stamp}/batch-ok.csv")
    receipt = wait_for_receipt(storage, f"incoming/demo-{stamp}/batch-ok.csv", etag)
    say(f"drift check: {receipt['action']} ({receipt['detail']}); report reports/{receipt.get('report')}.html")

    say("step 4/9: a drifted production batch arrives")
    name = f"incoming/demo-{stamp}/batch-drifted.csv"
    drifted = wait_for_receipt(storage, name, upload(storage, SAMPLES / "incoming" / "batch-drifted.csv", name))
    say(f"drift check: {drifted['action']} ({drifted['detail']}); report reports/{drifted.get('report')}.html")
    if drifted["action"] != "labels-needed":
        raise SystemExit(f"expected drift with no new labels to wait for them, but the lake trigger said "
                         f"{drifted['action']}: {drifted['detail']}")

    say("step 5/9: labeled rows of the new segment arrive; the retrain the drift waited for starts")
    retrained = deploy_from_upload(storage, SAMPLES / "labeled" / "new-segment" / "customers.csv",
                                   f"labeled/demo-{stamp}/new-segment.csv")
    if "answers the drift" not in retrained["run"]["reason"]:
        raise SystemExit(f"expected the labeled upload's retrain to answer the drift: {retrained['run']['reason']}")
    overview = requests.get(f"{base}/api/models/{model}", timeout=30).json()
    second = overview["aliases"]["production"]["version"]
    versions = {v["version"]: v for v in overview["versions"]}
    before, after = versions[first], versions[second]
    say(f"{model} version {second} is in production (previous: {overview['aliases']['previous']['version']}): "
        f"data {str(before['data_version'])[:12]} -> {str(after['data_version'])[:12]}, holdout accuracy "
        f"{before['metrics']['holdout']['accuracy']:.3f} -> {after['metrics']['holdout']['accuracy']:.3f}")
    if before["data_version"] == after["data_version"]:
        raise SystemExit("expected version 2 to be trained on a different dataset than version 1")

    say("step 6/9: a malformed file arrives")
    name = f"incoming/demo-{stamp}/malformed.csv"
    receipt = wait_for_receipt(storage, name, upload(storage, SAMPLES / "incoming" / "malformed.csv", name))
    say(f"lake trigger: {receipt['action']} ({receipt['detail']})")

    say("step 7/9: a training-code commit is pushed")
    params = repository.read("driftline.toml").replace("n_estimators = 200", "n_estimators = 300")
    run = follow_push(storage, commit_and_push(base, repository, "more trees", {"driftline.toml": params}))
    if run["status"] != "succeeded":
        raise SystemExit(f"the training commit's run ended {run['status']}: {run['events'][-1]['detail']}")
    lineage = requests.get(f"{base}/api/models/{model}/lineage", timeout=30).json()
    code = lineage.get("code") or {}
    say(f"{model} v{lineage['version']} serves; trained from commit {str(code.get('commit'))[:7]}, files "
        f"{', '.join(f'{path} {digest[:8]}' for path, digest in sorted((code.get('files') or {}).items()))}")

    say("step 8/9: an inference-code commit is pushed")
    score_py = repository.read("inference/score.py").replace(
        "return model.predict_proba(add_features(frame)).tolist()",
        "return [[round(p, 2) for p in row] for row in model.predict_proba(add_features(frame)).tolist()]")
    run = follow_push(storage, commit_and_push(base, repository, "probabilities to two decimals",
                                               {"inference/score.py": score_py}))
    if run["status"] != "succeeded":
        raise SystemExit(f"the inference commit's run ended {run['status']}: {run['events'][-1]['detail']}")
    release = requests.get(f"{base}/api/models/{model}/lineage", timeout=30).json()["release"]
    say(f"release: v{release['version']} trained by {str(release['training_commit'])[:7]}, served by "
        f"{str(release['inference_commit'])[:7]} ({release['inference_module']})")
    time.sleep(2.5)  # the app checks the aliases every DRIFTLINE_ALIAS_CHECK_SECONDS
    answer = score(base, sample_records(2))
    say(f"POST /api/score -> version {answer['version']}, probabilities {answer.get('probabilities')}")
    if release["inference_commit"] != repository.git("rev-parse", "HEAD") or not all(
            p == round(p, 2) for row in answer.get("probabilities") or [[0.123]] for p in row):
        raise SystemExit("expected the inference commit's release to serve, with probabilities to two decimals")

    say("step 9/9: a commit that fails a unit test is pushed")
    serving = requests.get(f"{base}/api/models/{model}", timeout=30).json()["aliases"]["production"]
    broken = "def test_the_new_feature_is_positive():\n    assert -1 > 0\n"
    run = follow_push(storage, commit_and_push(base, repository, "a failing test",
                                               {"tests/unit/test_broken.py": broken}))
    after = requests.get(f"{base}/api/models/{model}", timeout=30).json()["aliases"]["production"]
    say(f"run {run['status']}: {run['events'][-1]['detail']}")
    if run["status"] != "rejected" or after != serving:
        raise SystemExit("expected the failing commit to be rejected with production untouched")
    say(f"production untouched: v{after['version']}")
    say(f"done: version {first} -> {second} on drift once labels came -> {lineage['version']} from a training "
        "commit, a new release "
        f"from an inference commit, a failing commit rejected; reports are in the '{names.REPORTS}' container "
        "(Azure Storage Explorer -> Local emulator)")

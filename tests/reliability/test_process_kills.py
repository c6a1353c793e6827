"""Real process kills at every step boundary of a run, and the restart, on a real Azurite.

A labeled upload's whole `data` run (intake, fetch, retrain, register, test, approve skipped, deploy)
is worked by worker processes (`tests/reliability/kill_worker.py`, started with `sys.executable`)
through the app's own triggers; this test stands in for the Functions host: it takes the run's
messages off the queues and hands each to a worker. The first worker of each case carries a kill
point and dies by SIGKILL there, at one boundary of one step:
- after an artifact write (the dataset entry, the snapshot archive of a watched repository's commit
  before its manifest, the first and the last staged artifact, the version number taken, the first
  file copied into the version folder, committed.json);
- before the commit write (the upload's receipt, committed.json, the run record write that
  completes the step, the aliases.json write of deploy, the run's final write);
- before the next message (the first step's, the next step's, deploy's notification).
Then the restart, as the host does after a worker died: the message it held becomes visible again
and a NEW worker (no kill point) gets it once the dead worker's step lease (3 s here) has expired,
then works the rest of the run; when nothing is left on the queues while the run is still running,
the sweeper runs with its clock past the step timeout, as it would later. The built-in model trains
(few rows, few iterations), except in the snapshot case, whose run trains and tests the example
repository's code (examples/churn, its model renamed) in the sandbox.

Each case is counted on the reliability line (tests/reliability/conftest.py):
- lost: the run did not end succeeded, the upload's blob, dataset entry or receipt is gone, its
  version does not name the upload in its lineage, or the run needed the sweeper (a message nothing
  else re-sent: the run would wait DRIFTLINE_STEP_TIMEOUT_MINUTES, an hour by default);
- duplicates: more than one version for the run, or production moved more than once;
- lost too: a half-written version visible to the registry's readers (listed, resolved or aliased
  without committed.json, or committed with files missing or differing from the commit record),
  checked right after the kill and at the end;
- unhandled: a trigger raised in a worker.
A kill point the run never reaches fails the test (the case would prove nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from shared.chain import runs
from shared.chain.states import run_status
from shared.events import lake
from shared.model import datasets, registry
from shared.platform import names
from shared.platform.azure_storage import connect
from shared.platform.errors import BlobNotFound
from shared.platform.settings import StorageConnection
from shared.platform.storage import Storage
from tests.helpers import queues
from tests.chain.conftest import EXAMPLE
from tests.helpers.chain import SMALL_MODEL, STEP_QUEUES
from tests.repo.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = "3"  # the least DRIFTLINE_STEP_LEASE_SECONDS allows: a dead worker's step is free soon
SWEEP_AHEAD_SECONDS = 90  # past DRIFTLINE_STEP_TIMEOUT_MINUTES=1, the sweeper's clock
ROWS = 600
SLOTS = 3  # cases at once


@dataclass(frozen=True)
class Point:
    """Where the first worker dies: the nth matching write or send of a delivery of `step`."""

    step: str
    label: str
    when: str  # before | after
    container: str | None = None
    name: str = ""  # a regex searched in the blob name
    queue: str | None = None
    nth: int = 1
    step_status: str | None = None  # only run record writes with the step at this status
    repository: bool = False  # the run's code comes from a watched git repository, not the built-in model

    def spec(self) -> str:
        return json.dumps({key: value for key, value in asdict(self).items() if key not in ("label", "repository")})


def completes(step: str) -> Point:
    return Point(step, "before the run record write that completes it (the commit write)", "before",
                 names.RUNS, r"^\w+\.json$", step_status="succeeded")


def sends(step: str, queue: str, what: str) -> Point:
    return Point(step, f"before {what}", "before", queue=queue)


STAGED, COPIED = r"^[^/]+/staging/\w+/", r"^[^/]+/\d+/"  # a run's staged files; a version folder's
POINTS = {
    "intake": [
        Point("intake", "after the dataset entry write (the upload's artifact)", "after", names.MODELS, r"/dataset/"),
        sends("intake", names.FETCH_QUEUE, "the first step's message (the run record is written)"),
        Point("intake", "before the receipt write (the commit write)", "before", names.HOOKS, r"^uploads/\w+\.json$"),
    ],
    "fetch": [
        Point("fetch", "after the snapshot archive write, before its manifest (a code source)", "after", names.CODE,
              r"\.tar\.gz$", repository=True),
        completes("fetch"), sends("fetch", names.RETRAIN_QUEUE, "the next step's message"),
    ],
    "retrain": [
        Point("retrain", "after the first staged artifact write", "after", names.MODELS, STAGED),
        Point("retrain", "after the last staged artifact write", "after", names.MODELS, STAGED,
              nth=len(registry.ARTIFACTS)),
        completes("retrain"), sends("retrain", names.REGISTER_QUEUE, "the next step's message"),
    ],
    "register": [
        Point("register", "after the version number is taken (versions.json)", "after", names.MODELS,
              r"^[^/]+/versions\.json$"),
        Point("register", "after the first file copied into the version folder", "after", names.MODELS, COPIED),
        Point("register", "before the committed.json write (every file copied)", "before", names.MODELS,
              COPIED + registry.COMMIT_MARKER),
        Point("register", "after the committed.json write (before the candidate alias)", "after", names.MODELS,
              COPIED + registry.COMMIT_MARKER),
        completes("register"), sends("register", names.TEST_QUEUE, "the next step's message"),
    ],
    "test": [completes("test"), sends("test", names.DEPLOY_QUEUE, "the next step's message")],
    "deploy": [
        Point("deploy", "before the aliases.json write (production moves)", "before", names.MODELS, r"/aliases\.json$"),
        sends("deploy", names.NOTIFY_QUEUE, "its notification (production moved)"),
        Point("deploy", "before the run's final write", "before", names.RUNS, r"^\w+\.json$", step_status="succeeded"),
    ],
}


class Worker:
    """One worker process; `call` answers None once it has died."""

    def __init__(self, env: dict[str, str], log: Path, point: Point | None = None):
        self.log = log
        command = [sys.executable, "-m", "tests.reliability.kill_worker"] + (["--kill", point.spec()] if point else [])
        with log.open("w") as stderr:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=stderr, text=True)

    def call(self, request: dict[str, Any]) -> dict[str, Any] | None:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return self.died()
        line = self.process.stdout.readline()
        return json.loads(line) if line else self.died()

    def died(self) -> None:
        code = self.process.wait(timeout=60)
        assert code == -signal.SIGKILL, f"the worker ended {code}, not by its kill point:\n{self.log.read_text()[-3000:]}"
        return None

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=60)


def worker_env(connection_string: str, settings: dict[str, str | None] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DRIFTLINE_")}
    env.update({key: value for key, value in (settings or {}).items() if value is not None})
    env.update({
        "AzureWebJobsStorage": connection_string,
        "DRIFTLINE_TRAINING_ENTRY_POINT": SMALL_MODEL, "DRIFTLINE_LATENCY_BUDGET_MS": "600000",
        "DRIFTLINE_LATENCY_REPETITIONS": "3", "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0",
        "DRIFTLINE_STEP_LEASE_SECONDS": LEASE_SECONDS, "DRIFTLINE_STEP_TIMEOUT_MINUTES": "1",
        "OMP_NUM_THREADS": "1",  # workers run side by side: OpenMP threads each would oversubscribe the cores
    })
    return env


@dataclass
class Case:
    """What happened to one kill point's run."""

    model: str
    blob: str
    etag: str
    reached: bool = False
    swept: int = 0
    errors: list[str] = field(default_factory=list)
    at_kill: str | None = None  # a half-written version visible right after the kill


@dataclass
class Host:
    """What the cases share: the storage, the upload's bytes, the log folder, the restarted workers
    (a pool of live workers without a kill point), and one reader of the queues at a time (a reader
    hides the messages it passes over for a moment)."""

    storage: Storage
    connection_string: str
    data: bytes
    logs: Path
    restarted: queue.Queue[Worker]
    reading: threading.Lock = field(default_factory=threading.Lock)

    def take(self, model: str) -> list[dict[str, Any]]:
        with self.reading:
            return [{"deliver": name, "body": body} for name in STEP_QUEUES
                    for body in queues.take(self.storage, name, lambda body: json.loads(body).get("model") == model)]


def run_case(host: Host, point: Point) -> Case:
    """One run, its first worker killed at `point`, then handed to a restarted worker until its end."""
    storage, model = host.storage, f"kill-{uuid.uuid4().hex[:10]}"
    blob = f"{names.LABELED_PREFIX}{model}/data.csv"
    case = Case(model, blob, storage.put_bytes(names.DATALAKE, blob, host.data).strip('"'))
    settings = {"DRIFTLINE_MODEL_NAME": model,
                "DRIFTLINE_CODE_SOURCE": f"git:{watched(host.logs / model, model)}" if point.repository else None}
    first = Worker(worker_env(host.connection_string, settings), host.logs / f"{model}-killed.log", point)
    worker, restarted = first, None
    hand: list[dict[str, Any]] = [{"upload": blob, "etag": case.etag}]  # what the host holds, not yet done
    tries: dict[str, int] = {}
    try:
        while True:
            hand = hand or host.take(model)
            if not hand:
                run = run_of(storage, case)
                if worker is first or run is None or run_status(run["status"]).final or case.swept:
                    break
                hand, case.swept = [{"sweep": SWEEP_AHEAD_SECONDS}], case.swept + 1
            answer = worker.call({**hand[0], "settings": settings})
            if answer is None:  # the kill point: what it held becomes visible again, to another worker
                case.reached = True
                case.at_kill = half_written(storage, model)
                wait_for_lease(storage, hand[0])
                worker = restarted = host.restarted.get()
                continue
            if "error" in answer:
                case.errors.append(f"{describe(hand[0])}: {answer['error']}")
                tries[json.dumps(hand[0])] = tries.get(json.dumps(hand[0]), 0) + 1
                if tries[json.dumps(hand[0])] < 5:
                    continue  # the host retries the message at once, up to maxDequeueCount (5)
            hand.pop(0)
    finally:
        first.close()
        if restarted is not None:
            host.restarted.put(restarted)
    return case


def watched(folder: Path, model: str) -> Path:
    """The example repository (examples/churn) with this case's model, committed on main."""
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    config = folder / "driftline.toml"
    config.write_text(config.read_text().replace('name = "churn"', f'name = "{model}"')
                      .replace("n_estimators = 200", "n_estimators = 20"))  # small data, few trees: quick
    repository = GitRepo(folder)
    repository.git("add", "-A")
    repository.git("commit", "-q", "-m", "the churn model")
    return folder


def describe(request: dict[str, Any]) -> str:
    if "deliver" in request:
        return f"{json.loads(request['body'])['step']} message"
    return "the upload" if "upload" in request else "the sweeper"


def run_of(storage: Storage, case: Case) -> dict[str, Any] | None:
    receipt = lake.read_receipt(storage, case.blob, case.etag)
    claim = storage.read_json(names.HOOKS, lake.claim_name(case.blob, case.etag))
    run_id = (receipt or {}).get("run_id") or (claim.value["run_id"] if claim else None)
    return None if run_id is None else runs.get_run(storage, run_id)


def wait_for_lease(storage: Storage, request: dict[str, Any]) -> None:
    """Until the dead worker's lease on the step it held has expired (waits; asserts no duration)."""
    if "deliver" not in request:
        return
    message = json.loads(request["body"])
    run = runs.get_run(storage, message["run_id"]) or {}
    lease = (run.get("steps", {}).get(message["step"]) or {}).get("lease")
    if lease:
        until = datetime.fromisoformat(lease["until"])
        while datetime.now(timezone.utc) <= until:
            time.sleep(0.1)


def half_written(storage: Storage, model: str) -> str | None:
    """What the registry's readers show of a version that is not whole: None when nothing."""
    prefix = f"{model}/"
    folders: dict[int, set[str]] = {}
    for item in storage.list(names.MODELS, prefix):
        parts = item.name[len(prefix):].split("/")
        if len(parts) == 2 and parts[0].isdigit():
            folders.setdefault(int(parts[0]), set()).add(parts[1])
    listed = {record["version"]: record for record in registry.versions(storage, model)}
    table = registry.aliases(storage, model)[0]["aliases"]
    for version, files in sorted(folders.items()):
        if registry.COMMIT_MARKER not in files:
            if version in listed:
                return f"v{version} is listed without {registry.COMMIT_MARKER}"
            try:
                registry.version_info(storage, model, version)
                return f"v{version} resolves without {registry.COMMIT_MARKER}"
            except registry.UnknownVersion:
                pass
            if any(entry["version"] == version for entry in table.values()):
                return f"an alias points at v{version}, which has no {registry.COMMIT_MARKER}"
            continue
        record = listed.get(version)
        if record is None:
            return f"v{version} is committed but not listed"
        for name in registry.ARTIFACTS:
            try:
                digest = hashlib.sha256(registry.read_artifact(storage, model, version, name)).hexdigest()
            except BlobNotFound:
                return f"committed v{version} has no {name}"
            if digest != (record.get("sha256") or {}).get(name):
                return f"committed v{version}'s {name} differs from its commit record"
    return None


def judge(tally, label: str, storage: Storage, case: Case) -> None:
    model = case.model
    for error in case.errors:
        tally.case(f"{label}: a trigger raised", error, "unhandled")
    run = run_of(storage, case)
    tally.case(f"{label}: the run", None if run and run["status"] == "succeeded" else
               f"ended {run['status'] if run else 'without a run'}" + (f" ({run['events'][-1]['detail']})" if run else ""),
               "lost")
    tally.case(f"{label}: no message lost", "the run waited for the sweeper to resend a message, which it does "
               "only after DRIFTLINE_STEP_TIMEOUT_MINUTES" if case.swept else None, "lost")
    listed = registry.versions(storage, model)
    counter = storage.read_json(names.MODELS, f"{model}/versions.json")
    moves = [h for h in registry.aliases(storage, model)[0]["history"] if h["alias"] == "production"]
    run_id = run["run_id"] if run else None
    one = (len(listed) == 1 and listed[0]["run_id"] == run_id and counter is not None
           and counter.value["runs"] == {run_id: 1} and len(moves) == 1 and moves[0]["to"] == 1)
    tally.case(f"{label}: one version, one deploy", None if one else
               f"{len(listed)} versions, runs {counter.value['runs'] if counter else None}, "
               f"production moved {len(moves)} times", "duplicates")
    visible = case.at_kill or half_written(storage, model)
    tally.case(f"{label}: no half-written version visible", f"{visible} "
               f"({'right after the kill' if case.at_kill else 'at the end'})" if visible else None, "lost")
    lineage = registry.version_info(storage, model, listed[0]["version"])["lineage"] if listed else {}
    kept = (storage.etag(names.DATALAKE, case.blob) or "").strip('"') == case.etag
    joined = any(entry.name == case.blob for entry in datasets.entries(storage, model))
    trained = any(f["name"] == case.blob for f in (lineage or {}).get("data", {}).get("files", []))
    received = lake.read_receipt(storage, case.blob, case.etag) is not None
    tally.case(f"{label}: the upload's data", None if kept and joined and trained and received else
               f"blob kept {kept}, in the dataset {joined}, in the version's lineage {trained}, receipt {received}",
               "lost")


@pytest.fixture(scope="module")
def killed(connection_string: str, labeled_frame, tmp_path_factory) -> Iterator[tuple[Storage, dict[Point, Case]]]:
    """Every kill point's case, SLOTS at a time (a case mostly waits: for a worker to start, for a
    lease to expire), each with its own model; the restarted workers live for the module."""
    logs = tmp_path_factory.mktemp("kills")
    restarted: queue.Queue[Worker] = queue.Queue()
    for slot in range(SLOTS):
        restarted.put(Worker(worker_env(connection_string), logs / f"restarted-{slot}.log"))
    host = Host(connect(StorageConnection(connection_string=connection_string)), connection_string,
                labeled_frame.head(ROWS).to_csv(index=False).encode(), logs, restarted)
    try:
        with ThreadPoolExecutor(SLOTS) as pool:
            cases = {point: pool.submit(run_case, host, point) for points in POINTS.values() for point in points}
            yield host.storage, {point: future.result() for point, future in cases.items()}
    finally:
        while not restarted.empty():
            restarted.get().close()


@pytest.mark.parametrize("step", list(POINTS))
def test_a_worker_killed_at_each_boundary_of_the_step_and_restarted_ends_the_run_once(step, killed, tally):
    storage, cases = killed
    unreached = [point.label for point in POINTS[step] if not cases[point].reached]
    assert not unreached, f"{step}: kill points the run never reached: {unreached}"
    for point in POINTS[step]:
        judge(tally, f"{step} killed {point.label}", storage, cases[point])
        if point.repository:  # the case ran the repository's code, not the built-in model
            listed = registry.versions(storage, cases[point].model)
            assert listed and listed[0]["commit"], f"{point.label}: no version trained from the repository: {listed}"
    tally.assert_clean()

"""Concurrency, on a real Azurite, with real parallel workers (tests/helpers/workers.py: spawned
processes, several calls on threads in each, all released at one moment):
- 20 labeled uploads handled at once by the lake trigger's core: 20 distinct files; then the same
  content under several names, one blob delivered by several workers, and distinct files, all at once.
  Every upload must end traceable (a receipt saying it started the run, joined it, was the same content
  as another, or a duplicate delivery) and be noted on the run at most once (deliveries of one blob
  that race past its receipt check all "join"), every accepted content must be in the dataset exactly once,
  the coalescing window must give one run (no upload in two), and the chain must end with one version
  trained on exactly the accepted files.
- two registrations at once: two copies of one run's register message at the register trigger; the
  registry's write itself from several workers for one run (as when a copy takes over an expired lease
  while the first still copies); the register steps of two runs of one model. One run gets one version,
  two runs two; versions.json agrees with the commit markers, and every committed file is the one its
  marker's digest names (no artifact half-visible or rewritten after the commit).
- two deploys at once: two copies of one run's deploy message move production once; two alias moves
  to different versions keep one consistent history."""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import datetime, timezone

import pytest

from shared.chain import runs
from shared.events import lake
from shared.model import datasets, registry
from shared.platform import names
from tests.chain.conftest import azure_chain, trained_files  # noqa: F401  (the chain on Azurite, one real retrain)
from tests.helpers.chain import STEP_QUEUES, stage_retrain
from tests.helpers.events import runs_of
from tests.helpers.workers import run_at_once

WINDOW = 600


def window_end_now() -> datetime:
    """A moment 2 s before the end of the current coalescing window: every worker handles its upload
    as of then, so all land in one window and the run's first message is visible 2 s after it."""
    end = (math.floor(time.time() / WINDOW) + 1) * WINDOW
    return datetime.fromtimestamp(end - 2, timezone.utc)


def pump_until_over(chain, run_id: str, seconds: float = 120) -> dict:
    """Feed the run's messages to its triggers as they become visible, until the run is over."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        chain.pump(run_id)
        run = chain.run(run_id)
        if run["status"] in ("succeeded", "failed", "rejected", "skipped"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {chain.run(run_id)['status']} after {seconds} s")


def errors_of(tally, label: str, answers: list[dict]) -> bool:
    failed = [a["error"] for a in answers if "error" in a]
    if failed:
        tally.case(label, f"{len(failed)} workers raised: {failed[:3]}", "unhandled")
    return not failed


def csv(frame) -> bytes:
    return frame.to_csv(index=False).encode()


def uploads_at_once(tally, chain, files: list[tuple[str, bytes]], deliveries: dict[str, int]) -> list[dict] | None:
    """Put the files in the lake, then hand each to the lake handler from parallel workers at one
    moment (a file in `deliveries` that many times); the outcomes, or None when a worker raised."""
    now = window_end_now()
    tasks = []
    for name, data in files:
        blob = chain.upload(data, name)
        etag = chain.storage.etag(names.DATALAKE, blob)
        tasks += [("upload", (f"{names.DATALAKE}/{blob}", etag, now.isoformat()))] * deliveries.get(name, 1)
    answers = run_at_once(tasks, processes=4)
    return [a["result"] for a in answers] if errors_of(tally, "uploads at once", answers) else None


def check_uploads(tally, chain, files: list[tuple[str, bytes]], outcomes: list[dict], expected: set[str]) -> str | None:
    """The accounting of a batch of uploads; returns the one run they made."""
    model = chain.model
    allowed = {"retrain", "joined", "same-content", "duplicate"}
    odd = [(o["name"], o["action"], o["detail"]) for o in outcomes if o["action"] not in allowed]
    tally.case("every upload ended traceably", f"{odd[:3]}" if odd else None, "lost")
    blobs = {f"{names.LABELED_PREFIX}{model}/{name}": data for name, data in files}
    unreceipted = [blob for blob in blobs if chain.storage.etag(names.DATALAKE, blob) is None or
                   lake.read_receipt(chain.storage, blob, chain.storage.etag(names.DATALAKE, blob) or "") is None]
    tally.case("every upload has its receipt", f"no receipt: {unreceipted[:3]}" if unreceipted else None, "lost")
    entries = datasets.entries(chain.storage, model)
    by_content: dict[str, list[str]] = {}
    for entry in entries:
        by_content.setdefault(entry.sha256, []).append(entry.name)
    contents = {hashlib.sha256(data).hexdigest() for data in blobs.values()}
    twice = {sha: found for sha, found in by_content.items() if len(found) > 1}
    tally.case("each content in the dataset once", f"twice: {twice}" if twice else None, "duplicates")
    tally.case("every content in the dataset", None if set(by_content) == contents
               else f"{len(contents - set(by_content))} missing, {len(set(by_content) - contents)} unknown", "lost")
    accepted = {entry.name for entry in entries}
    tally.case("the accepted names", None if accepted <= expected and len(accepted) == len(contents)
               else f"accepted {sorted(accepted)[:4]}…, expected within {sorted(expected)[:4]}…", "lost")
    started = [o["run_id"] for o in outcomes if o["action"] == "retrain"]
    made = [run for run in runs_of(chain.storage, model)]
    claimed = {runs.get_run(chain.storage, o["run_id"])["run_id"] for o in outcomes if o["run_id"]}
    tally.case("one run for the window", None if len(started) == 1 and len(made) == 1 and claimed == set(started)
               else f"{len(started)} started, {len(made)} runs, uploads in {len(claimed)}", "duplicates")
    if len(started) == 1:
        noted = [event["detail"] for event in chain.run(started[0])["events"] if "joins this retrain" in event["detail"]]
        twice = sorted({detail for detail in noted if noted.count(detail) > 1})
        tally.case("each upload noted on the run once", f"noted again: {twice[:2]}" if twice else None, "duplicates")
    return started[0] if len(started) == 1 else None


def check_trained_on(tally, chain, run_id: str, expected: int) -> None:
    run = pump_until_over(chain, run_id)
    versions = registry.versions(chain.storage, chain.model)
    tally.case("the run", None if run["status"] == "succeeded" else f"ended {run['status']}: {run['events'][-1]}",
               "lost")
    tally.case("one version", None if [v["version"] for v in versions] == [1] else f"versions {versions}", "duplicates")
    if versions:
        files = registry.version_info(chain.storage, chain.model, 1)["lineage"]["data"]["files"]
        names_in = [f["name"] for f in files]
        accepted = {entry.name for entry in datasets.entries(chain.storage, chain.model)}
        tally.case("trained on every accepted file once", None if len(names_in) == expected and
                   set(names_in) == accepted else f"{len(names_in)} files, {len(set(names_in))} distinct, "
                                                  f"{len(accepted)} accepted", "lost")
    tally.case("production", None if registry.resolve(chain.storage, chain.model, "production") == 1 else
               f"production is {registry.resolve(chain.storage, chain.model, 'production')}", "lost")


@pytest.fixture
def lake_chain(azure_chain):  # noqa: F811
    azure_chain.configure(retrain_coalesce_seconds=str(WINDOW), quality_tolerance="1")
    return azure_chain


def test_twenty_distinct_uploads_at_once(lake_chain, labeled_frame, tally):
    chain = lake_chain
    files = [(f"part-{i:02d}.csv", csv(labeled_frame.iloc[i * 100:(i + 1) * 100])) for i in range(20)]
    outcomes = uploads_at_once(tally, chain, files, {})
    if outcomes is not None:
        tally.case("each upload started or joined", None if sorted(o["action"] for o in outcomes).count("joined") == 19
                   else f"{sorted(o['action'] for o in outcomes)}", "lost")
        run_id = check_uploads(tally, chain, files, outcomes, {f"{names.LABELED_PREFIX}{chain.model}/{n}" for n, _ in files})
        if run_id is not None:
            check_trained_on(tally, chain, run_id, 20)
    tally.assert_clean()


def test_the_same_content_and_the_same_blob_at_once(lake_chain, labeled_frame, tally):
    chain = lake_chain
    shared = csv(labeled_frame.iloc[:100])
    copies = [(f"copy-{i}.csv", shared) for i in range(6)]
    distinct = [(f"part-{i}.csv", csv(labeled_frame.iloc[i * 100:(i + 1) * 100])) for i in range(1, 9)]
    files = copies + distinct + [("redelivered.csv", csv(labeled_frame.iloc[900:1000]))]
    outcomes = uploads_at_once(tally, chain, files, {"redelivered.csv": 6})  # 6 + 8 + 6 = 20 at once
    if outcomes is not None:
        prefix = f"{names.LABELED_PREFIX}{chain.model}/"
        same = [o for o in outcomes if o["action"] == "same-content"]
        tally.case("copies: all but one are the same content", None if len(same) == 5 and
                   {o["name"] for o in same} < {prefix + n for n, _ in copies} else f"{[o['name'] for o in same]}",
                   "duplicates")
        again = [o["action"] for o in outcomes if o["name"] == prefix + "redelivered.csv"]
        tally.case("one blob six times: never a second content", None if "same-content" not in again
                   else f"{again}", "duplicates")
        run_id = check_uploads(tally, chain, files, outcomes, {prefix + n for n, _ in files})
        if run_id is not None:
            check_trained_on(tally, chain, run_id, 10)  # 8 distinct, one copy, the redelivered blob
    tally.assert_clean()


def staged_run(chain, files: dict[str, bytes], labeled_frame, name: str) -> str:
    """A run whose retrain staged real artifacts; its register message is on the queue."""
    run_id = chain.start([chain.upload(labeled_frame.head(200), name)])
    stage_retrain(chain, run_id, files)
    return run_id


def check_versions(tally, chain, expected: dict[str, int]) -> None:
    """versions.json, the commit markers and the committed files agree, run by run."""
    document = chain.storage.read_json(names.MODELS, f"{chain.model}/versions.json").value
    committed = registry.versions(chain.storage, chain.model)
    tally.case("versions.json", None if document == {"next": len(expected) + 1, "runs": expected}
               else f"{document}, expected runs {expected}", "duplicates")
    tally.case("commit markers", None if {c["run_id"]: c["version"] for c in committed} == expected
               and len(committed) == len(expected) else f"{[(c['run_id'], c['version']) for c in committed]}",
               "duplicates")
    for marker in committed:
        prefix = registry.version_prefix(chain.model, marker["version"])
        wrong = [name for name, digest in marker["sha256"].items()
                 if hashlib.sha256(chain.storage.get_bytes(names.MODELS, prefix + name)[0]).hexdigest() != digest]
        tally.case(f"v{marker['version']} files are the committed ones",
                   f"differ from the marker after the commit: {wrong}" if wrong else None, "duplicates")


def test_two_copies_of_one_register_message_at_once(azure_chain, labeled_frame, trained_files, tally):  # noqa: F811
    chain = azure_chain
    chain.configure(quality_tolerance="1")
    run_id = staged_run(chain, trained_files, labeled_frame, "one.csv")
    [body] = chain.take(names.REGISTER_QUEUE, run_id)
    answers = run_at_once([("deliver", ("register", body))] * 2, processes=2)
    if errors_of(tally, "register twice at once", answers):
        step = chain.run(run_id)["steps"]["register"]
        tally.case("register ran once", None if step["status"] == "succeeded" and step["attempts"] == 1
                   else f"{step['status']} after {step.get('attempts')} attempts", "duplicates")
        check_versions(tally, chain, {run_id: 1})
        # a copy that came after the step finished re-sends the next message, in case it was lost
        for body in chain.take(names.TEST_QUEUE, run_id):
            chain.deliver(names.TEST_QUEUE, body)
        step = chain.run(run_id)["steps"]["test"]
        tally.case("test ran once", None if step["status"] == "succeeded" and step["attempts"] == 1
                   else f"{step['status']} after {step.get('attempts')} attempts", "duplicates")
        deploys = chain.take(names.DEPLOY_QUEUE, run_id)
        tasks = [("deliver", ("deploy", body)) for body in deploys[:1] * 2 + deploys[1:]]
        answers = run_at_once(tasks, processes=2)
        if errors_of(tally, "deploy twice at once", answers):
            run = chain.run(run_id)
            moves = [h for h in registry.aliases(chain.storage, chain.model)[0]["history"] if h["alias"] == "production"]
            tally.case("deployed once", None if run["status"] == "succeeded" and len(moves) == 1 and
                       run["steps"]["deploy"]["attempts"] == 1 else f"run {run['status']}, {len(moves)} moves", "duplicates")
            deployed = [n for n in chain.notifications() if n["event"] == "model.deployed" and n["run_id"] == run_id]
            tally.case("one model.deployed", None if len(deployed) == 1 else f"{len(deployed)} sent", "duplicates")
    tally.assert_clean()


def test_one_run_registered_by_several_workers_at_once(azure_chain, labeled_frame, trained_files, tally):  # noqa: F811
    chain = azure_chain
    for round_ in range(3):  # a race may need a few tries to show
        run_id = staged_run(chain, trained_files, labeled_frame, f"round-{round_}.csv")
        chain.take(names.REGISTER_QUEUE, run_id)
        answers = run_at_once([("register", (chain.model, run_id))] * 4, processes=4)
        if errors_of(tally, f"round {round_}: register at once", answers):
            got = {a["result"] for a in answers}
            tally.case(f"round {round_}: one version for the run", None if got == {round_ + 1} else f"versions {got}",
                       "duplicates")
    check_versions(tally, chain, {run["run_id"]: v for v, run in enumerate(
        sorted(runs_of(chain.storage, chain.model), key=lambda r: r["created"]), start=1)})
    tally.assert_clean()


def test_two_runs_registered_and_moved_at_once(azure_chain, labeled_frame, trained_files, tally):  # noqa: F811
    chain = azure_chain
    first, second = (staged_run(chain, trained_files, labeled_frame, f"{n}.csv") for n in ("a", "b"))
    bodies = [chain.take(names.REGISTER_QUEUE, run_id)[0] for run_id in (first, second)]
    answers = run_at_once([("deliver", ("register", body)) for body in bodies], processes=2)
    if errors_of(tally, "two runs registered at once", answers):
        got = {run_id: chain.run(run_id)["steps"]["register"].get("outputs", {}).get("version") for run_id in (first, second)}
        tally.case("two distinct versions", None if sorted(got.values()) == [1, 2] else f"{got}", "duplicates")
        check_versions(tally, chain, got)
        for queue in STEP_QUEUES:
            for run_id in (first, second):
                chain.take(queue, run_id)
        answers = run_at_once([("move", (chain.model, "production", version, run_id)) for run_id, version in got.items()],
                              processes=2)
        if errors_of(tally, "two alias moves at once", answers):
            document = registry.aliases(chain.storage, chain.model)[0]
            moves = [h for h in document["history"] if h["alias"] == "production"]
            table = document["aliases"]
            consistent = (len(moves) == 2 and moves[0]["from"] is None and moves[1]["from"] == moves[0]["to"]
                          and table["production"]["version"] == moves[1]["to"]
                          and table.get("previous", {}).get("version") == moves[0]["to"])
            tally.case("production and previous agree with the history", None if consistent else
                       json.dumps({"aliases": table, "moves": moves})[:300], "duplicates")
    tally.assert_clean()

"""Faults from outside, on MemoryStorage through the app's own triggers and intake:
- hostile uploads to the lake (contents and names), each with the outcome it must have, with a
  production model serving: clean when intake ends so, keeps the original and quarantines with a
  readable reason; then a clean upload must still retrain;
- every chain message of a run delivered three times, shuffled, with older ones again: one version,
  one deploy;
- forged, tampered, truncated and replayed pushes: nothing starts but the one authentic push."""

from __future__ import annotations

import gzip
import io
import json
import random

import pandas as pd
import pytest

from shared.events import lake, quarantine
from shared.model import registry
from shared.platform import context, names, signatures
from tests.chain.test_datasets import HOSTILE, hostile
from tests.helpers.chain import STEP_QUEUES
from tests.helpers.hostile import HOSTILE_LAKE_NAMES


def csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def contents(frame: pd.DataFrame) -> list[tuple[str, str, bytes, set[str]]]:
    """(label, file name, bytes, the outcomes it may have)."""
    rows = frame.head(40)
    parquet = io.BytesIO()
    rows.rename(columns={"income": "salary"}).to_parquet(parquet, index=False)
    header, line = ",".join(rows.columns), ",".join(map(str, rows.iloc[0].tolist()))
    refused = {"quarantined"}
    cases = [(f"hostile {kind}", f"{kind}.csv" + (".gz" if kind == "gzip-bomb" else ""), hostile(frame, kind), refused)
             for kind in HOSTILE]
    cases += [
        ("empty file", "empty.csv", b"", refused),
        ("header only", "header.csv", (header + "\n").encode(), refused),
        ("binary garbage", "garbage.csv", bytes(range(256)) * 40, refused),
        ("ragged rows", "ragged.csv", (header + "\n" + line + ",extra,fields\n" + line + "\n").encode(), refused),
        ("unterminated quote", "quote.csv", (header + '\n"' + line + "\n").encode(), refused),
        ("duplicate header", "dupes.csv", (header + ",age\n" + line + ",41\n").encode(), refused),
        ("unicode header", "unicode.csv", csv(rows.rename(columns={"age": "âge"})), refused),
        ("latin-1 text", "latin1.csv", csv(rows.assign(region="sür")).decode().encode("latin-1"), {"quarantined", "retrain", "joined"}),
        ("UTF-8 BOM", "bom.csv", b"\xef\xbb\xbf" + csv(rows), {"quarantined", "retrain", "joined"}),
        ("2 MiB field", "huge-field.csv", csv(rows.assign(region=["x" * (2 * 1024 * 1024)] + ["north"] * 39)), refused),
        ("wrong-schema Parquet", "wrong.parquet", parquet.getvalue(), refused),
        ("Parquet that is not", "fake.parquet", b"PAR1 not really", refused),
        ("gzip that is not", "fake.csv.gz", b"\x1f\x8b not gzip", refused),
        ("truncated gzip", "cut.csv.gz", gzip.compress(csv(rows))[:60], refused),
        ("JSON Lines broken", "broken.jsonl", b'{"age": 1}\n{not json\n', refused),
        ("JSON Lines of arrays", "arrays.jsonl", b"[1, 2]\n[3, 4]\n", refused),
        ("labels all empty", "no-labels.csv", csv(rows.assign(label=None)), refused),
        ("label column missing", "no-target.csv", csv(rows.drop(columns=["label"])), refused),
        ("a feature missing", "no-feature.csv", csv(rows.drop(columns=["income"])), refused),
        ("infinite label", "inf-label.csv", csv(rows.assign(label=[float("inf")] + [0] * 39)), refused),
        ("unknown suffix", "notes.txt", b"age,label\n1,0\n", {"quarantined"}),
    ]
    return cases


@pytest.fixture
def lake_chain(chain, labeled_frame):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1", labeled_max_bytes=str(8 * 1024 * 1024))
    receipt = chain.intake(labeled_frame.iloc[:1000], "first.csv")
    chain.pump(receipt["run_id"])
    assert registry.resolve(chain.storage, chain.model, "production") == 1
    return chain


def check_upload(tally, chain, label: str, blob: str, data: bytes, allowed: set[str]) -> None:
    try:
        etag = chain.storage.put_bytes(names.DATALAKE, blob, data)
        outcome = lake.handle_upload(chain.storage, context.settings(), blob, etag)
    except Exception as error:
        tally.case(label, f"{type(error).__name__}: {error}", "unhandled")
        return
    if outcome.action not in allowed:
        tally.case(label, f"ended {outcome.action} ({outcome.detail}), expected {sorted(allowed)}", "unhandled")
    elif outcome.action == "quarantined" and not (
            chain.storage.exists(names.DATALAKE, blob)
            and chain.storage.exists(names.DATALAKE, quarantine.quarantine_name(blob))
            and chain.storage.read_json(names.DATALAKE, quarantine.reason_name(blob)).value["reason"]):
        tally.case(label, "quarantined without its original, its copy or its reason", "lost")
    elif outcome.action == "refused" and not list(chain.storage.list(names.DATALAKE, quarantine.REFUSED_PREFIX)):
        tally.case(label, "refused without a reason record", "lost")
    else:
        tally.case(label)
    for run_id in [outcome.run_id] if outcome.run_id else []:
        chain.pump(run_id)


def test_hostile_uploads_end_as_they_must_and_a_clean_one_still_trains(lake_chain, labeled_frame, tally):
    chain = lake_chain
    for label, name, data, allowed in contents(labeled_frame.iloc[1000:]):
        check_upload(tally, chain, label, f"{names.LABELED_PREFIX}{chain.model}/{name}", data, allowed)
    for label, name, _ in HOSTILE_LAKE_NAMES:
        check_upload(tally, chain, f"name: {label}", name, csv(labeled_frame.head(20)), {"refused"})
    receipt = chain.intake(labeled_frame.iloc[1000:], "clean.csv")
    chain.pump(receipt["run_id"])
    tally.case("the clean upload after them", None if chain.run(receipt["run_id"])["status"] == "succeeded"
               else f"ended {chain.run(receipt['run_id'])['status']}", "lost")
    tally.assert_clean()


def test_every_chain_message_three_times_and_out_of_order_does_the_work_once(chain, labeled_frame, tally):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1")
    receipt = chain.intake(labeled_frame.iloc[:1000], "data.csv")
    run_id, seen, order = receipt["run_id"], [], random.Random(7)
    for _ in range(12):
        fresh = [(queue, body) for queue in STEP_QUEUES for body in chain.take(queue, run_id)]
        if not fresh:
            break
        seen.extend(fresh)
        batch = fresh * 3 + order.sample(seen, min(3, len(seen)))  # each new one thrice, and old ones again
        order.shuffle(batch)
        for queue, body in batch:
            try:
                chain.deliver(queue, body)
            except Exception as error:
                tally.case(f"{queue} redelivered", f"{type(error).__name__}: {error}", "unhandled")
    run = chain.run(run_id)
    versions = registry.versions(chain.storage, chain.model)
    moves = [h for h in registry.aliases(chain.storage, chain.model)[0]["history"] if h["alias"] == "production"]
    tally.case("the run", None if run["status"] == "succeeded" else f"ended {run['status']}", "lost")
    tally.case("versions", None if len(versions) == 1 else f"{len(versions)} versions", "duplicates")
    tally.case("deploys", None if len(moves) == 1 else f"production moved {len(moves)} times", "duplicates")
    tally.assert_clean()


def test_forged_and_replayed_pushes_start_nothing(functions, api_env, monkeypatch, tally):
    import azure.functions as func

    from tests.events.test_webhooks import push_run
    from tests.helpers.event_data import body, github_commit, github_push
    from tests.helpers.events import drain, runs_of

    monkeypatch.setenv("DRIFTLINE_GITHUB_SECRET", "the-real-secret")
    context.reset()
    payload = body(github_push([github_commit(1, modified=["training/a.py"])]))

    def deliver(raw: bytes, signature: str | None, delivery: str):
        headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return functions["hooks_github"](func.HttpRequest("POST", "http://localhost/api/hooks/github",
                                                          headers=headers, body=raw))

    good = signatures.sign("the-real-secret", payload)
    forged = [("no signature", payload, None), ("another secret", payload, signatures.sign("guess", payload)),
              ("tampered body", payload.replace(b"training/a.py", b"training/b.py"), good),
              ("truncated body", payload[:-10], good), ("signature of nothing", payload, signatures.sign("the-real-secret", b"")),
              ("not hex", payload, "sha256=zz"), ("non-ASCII signature", payload, "sha256=é" * 10)]
    storage = context.storage()
    for label, raw, signature in forged:
        answer = deliver(raw, signature, f"forged-{label}")
        started = answer.status_code < 300 or push_run(storage, "github", f"forged-{label}") is not None
        tally.case(f"forged: {label}", f"answered {answer.status_code}" if started else None, "forged_accepted")
    first = deliver(payload, good, "real-1")
    replayed = deliver(payload, good, "real-2")  # the same push under a new delivery id, before it ran
    drain(storage, functions)
    later = deliver(payload, good, "real-3")  # and again once its run exists
    drain(storage, functions)
    tally.case("authentic push", None if first.status_code == 202 else f"answered {first.status_code}", "lost")
    ids = {json.loads(answer.get_body()).get("run_id") for answer in (first, replayed, later)}
    pushes = [run for run in runs_of(storage, context.settings().model_name) if run["trigger"]["kind"] == "push"]
    tally.case("replayed push", None if len(ids) == 1 and len(pushes) == 1 and later.status_code == 200
               else f"run ids {ids}, {len(pushes)} push runs, the late replay answered {later.status_code}",
               "forged_accepted")
    tally.assert_clean()

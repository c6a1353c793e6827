"""The retrain step: reading labeled data, data version, stable held-out split, staged artifacts, lineage."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

from shared.drift import Profile
from shared.model import registry, training
from shared.platform import names


def staged(chain, run_id: str, name: str) -> bytes:
    return chain.storage.get_bytes(names.MODELS, registry.staging_prefix(chain.model, run_id) + name)[0]


def test_retrain_stages_artifacts_and_exact_lineage(chain, labeled_frame):
    parquet = io.BytesIO()
    labeled_frame.iloc[1000:].to_parquet(parquet, index=False)
    blobs = [
        chain.upload(labeled_frame.iloc[:1000], "part-1.csv"),
        chain.upload(parquet.getvalue(), "part-2.parquet"),
        chain.upload(b"age,income\n1,2,3\n\"broken", "broken.csv"),
    ]
    run_id = chain.start(blobs)
    chain.deliver("retrain", chain.retrain_message(run_id))

    run = chain.run(run_id)
    assert run["steps"]["retrain"]["status"] == "succeeded"
    [register] = chain.take(names.REGISTER_QUEUE, run_id)
    assert json.loads(register)["payload"]["staging"] == registry.staging_prefix(chain.model, run_id)

    lineage = json.loads(staged(chain, run_id, "lineage.json"))
    etags = {blob: chain.storage.etag(names.DATALAKE, blob).strip('"') for blob in blobs}
    contents = {blob: hashlib.sha256(chain.storage.get_bytes(names.DATALAKE, blob)[0]).hexdigest() for blob in blobs}
    files = lineage["data"]["files"]
    assert [f["name"] for f in files] == sorted(blobs[:2])
    assert all(f["etag"] == etags[f["name"]] and f["sha256"] == contents[f["name"]] for f in files)
    assert [f["rows"] for f in files] == [1000, 1000] and lineage["data"]["feedback_share"] == 0
    assert lineage["data"]["version"] == hashlib.sha256("\n".join(sorted(contents[b] for b in blobs[:2])).encode()).hexdigest()
    [excluded] = lineage["data"]["excluded"]
    assert excluded["name"] == blobs[2] and "malformed rows" in excluded["reason"]
    assert lineage["data"]["rows"] == 2000
    source = (Path(__file__).parents[1] / "helpers" / "entry_points.py").read_bytes()
    # The app's own entry point ran, not the trigger's commit: the lineage names no commit.
    assert lineage["code"] == {"kind": "app", "entry_point": "tests.helpers.entry_points:small", "commit": None,
                               "source_sha256": hashlib.sha256(source).hexdigest()}
    assert lineage["run_id"] == run_id and lineage["trigger"]["kind"] == "upload"
    assert set(lineage["libraries"]) == {"python", "scikit-learn", "numpy", "pandas", "skops"}
    assert lineage["parameters"]["target_column"] == "label" and "train_s" in lineage["timings"]
    schema = json.loads(staged(chain, run_id, "schema.json"))
    assert [f["name"] for f in schema["features"]] == [c for c in labeled_frame.columns if c != "label"]
    assert schema["classes"] == [0, 1]
    profile = Profile.from_json(staged(chain, run_id, "profile.json"))
    assert profile is not None
    metrics = json.loads(staged(chain, run_id, "metrics.json"))
    assert metrics["holdout"]["accuracy"] > 0.6 and metrics["training"]["n_train"] > 0
    estimator = registry.loads_estimator(staged(chain, run_id, "model.skops"), ("sklearn.", "numpy."))
    assert len(estimator.predict(labeled_frame.drop(columns=["label"]).head(3))) == 3
    assert registry.versions(chain.storage, chain.model) == []  # staged, not yet a version


def test_the_dataset_is_what_intake_accepted_in_every_format_once_per_content(chain, labeled_frame):
    part = labeled_frame.iloc[:50]
    parquet = io.BytesIO()
    labeled_frame.iloc[250:300].to_parquet(parquet, index=False)
    uploads = {
        "a.csv.gz": gzip.compress(part.to_csv(index=False).encode()),
        "b.jsonl": labeled_frame.iloc[50:100].to_json(orient="records", lines=True).encode(),
        "c.ndjson": labeled_frame.iloc[100:150].to_json(orient="records", lines=True).encode(),
        "d.json": labeled_frame.iloc[150:200].to_json(orient="records", lines=True).encode(),
        "e.pq": parquet.getvalue(),
        "f.csv": labeled_frame.iloc[200:250].to_csv(index=False).encode(),
    }
    for name, data in uploads.items():
        assert chain.intake(data, name)["action"] in ("retrain", "joined"), name
    assert chain.intake(b"age,label\n1,inf\n", "bad.csv")["action"] == "quarantined"
    first = training.load_labeled(chain.storage, chain_settings())
    assert sorted((f["name"].rsplit("/", 1)[1], f["rows"]) for f in first.files) == [
        (name, 50) for name in sorted(uploads)]
    assert len(first.frame) == 300 and first.excluded == []  # the quarantined file is not even a candidate
    # The same bytes again, under another name: one entry, the version does not move.
    assert chain.intake(uploads["f.csv"], "copy-of-f.csv")["action"] == "same-content"
    assert training.load_labeled(chain.storage, chain_settings()).version == first.version
    # New content under an old name is new data.
    chain.intake(labeled_frame.iloc[300:350].to_csv(index=False).encode(), "f.csv")
    grown = training.load_labeled(chain.storage, chain_settings())
    assert grown.version != first.version and len(grown.frame) == 300
    assert [e["reason"] for e in grown.excluded if e["name"].endswith("f.csv")] == [
        "its content changed since intake accepted it (the new upload is its own entry)"]


def test_held_out_rows_stay_held_out_as_data_grows(labeled_frame):
    _, small_holdout = training.split_holdout(labeled_frame.iloc[:1000], 20)
    train, holdout = training.split_holdout(labeled_frame, 20)
    assert 300 < len(holdout) < 500 and len(train) + len(holdout) == len(labeled_frame)
    grown = set(map(tuple, holdout.astype(str).values))
    assert set(map(tuple, small_holdout.astype(str).values)) <= grown


def test_failing_entry_point_stops_the_run_without_staging(chain, labeled_frame):
    chain.configure(training_entry_point="tests.helpers.entry_points:raises")
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    chain.deliver("retrain", chain.retrain_message(run_id))
    run = chain.run(run_id)
    assert run["status"] == "failed"
    assert "RuntimeError: the data scientist's code failed" in run["steps"]["retrain"]["detail"]
    assert not list(chain.storage.list(names.MODELS, registry.staging_prefix(chain.model, run_id)))
    assert chain.take(names.REGISTER_QUEUE, run_id) == []
    assert [n["event"] for n in chain.notifications()] == ["run.failed"]


def test_no_usable_labeled_data_fails_with_the_reason(chain):
    run_id = chain.start([chain.upload(b"a,b\n1,2\n", "no-label.csv")])
    chain.deliver("retrain", chain.retrain_message(run_id))
    run = chain.run(run_id)
    assert run["status"] == "failed" and "no usable labeled data" in run["steps"]["retrain"]["detail"]


def chain_settings():
    from shared.platform import context

    return context.settings()

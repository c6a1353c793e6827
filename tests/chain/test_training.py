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
    etags = {blob: chain.storage.etag(names.DATALAKE, blob) for blob in blobs}
    assert [b["name"] for b in lineage["data"]["blobs"]] == sorted(blobs[:2])
    assert all(b["etag"] == etags[b["name"]] for b in lineage["data"]["blobs"])
    assert lineage["data"]["version"] == training.data_version([(b, etags[b]) for b in blobs[:2]])
    assert lineage["data"]["skipped"][0]["name"] == blobs[2] and "Error" in lineage["data"]["skipped"][0]["reason"]
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


def test_listing_reads_every_supported_format_and_versions_change_with_etags(chain, labeled_frame):
    chain.upload(gzip.compress(labeled_frame.iloc[:50].to_csv(index=False).encode()), "a.csv.gz")
    chain.upload(labeled_frame.iloc[50:100].to_json(orient="records", lines=True).encode(), "b.jsonl")
    chain.upload(b"ignored", "notes.txt")
    settings = chain_settings()
    first = training.load_labeled(chain.storage, settings)
    mine = [b for b in first.blobs if b["name"].startswith(f"{names.LABELED_PREFIX}{chain.model}/")]
    assert sorted((b["name"].rsplit("/", 1)[1], b["rows"]) for b in mine) == [("a.csv.gz", 50), ("b.jsonl", 50)]
    chain.upload(labeled_frame.iloc[50:100].to_json(orient="records", lines=True).encode(), "b.jsonl")
    assert training.load_labeled(chain.storage, settings).version != first.version


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

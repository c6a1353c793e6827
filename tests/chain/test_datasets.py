"""What a retrain trains on: hostile labeled files never reach training (and never block the next clean
upload), the same content counts once, a run with nothing new registers nothing, drift waits for
labels, and feedback retrains only in bulk and within its share. Through intake (the lake trigger's
core) and the real chain on MemoryStorage; `azure_chain` runs the hostile cases on Azurite too."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from shared.events import lake
from shared.model import datasets, registry
from shared.platform import context, names
from shared.platform.memory_storage import MemoryStorage
from tests.helpers.chain import SAMPLE

FEATURE_NUMBER = "income"


def hostile(frame: pd.DataFrame, kind: str) -> bytes:
    rows = frame.head(40).copy()
    if kind == "infinite":
        rows[FEATURE_NUMBER] = rows[FEATURE_NUMBER].astype(float)
        rows.loc[rows.index[3], FEATURE_NUMBER] = float("inf")
    elif kind == "mixed":
        rows[FEATURE_NUMBER] = rows[FEATURE_NUMBER].astype(str)
        rows.loc[rows.index[5], FEATURE_NUMBER] = "forty thousand"
    elif kind == "no-labels":
        rows["label"] = None
    elif kind == "text-for-number":
        rows[FEATURE_NUMBER] = [f"n{i}" for i in range(len(rows))]
    elif kind == "unexpected-column":
        rows["favourite_colour"] = "teal"
    elif kind == "wide":
        rows = pd.concat([rows, pd.DataFrame({f"c{i}": range(len(rows)) for i in range(1500)}, index=rows.index)],
                         axis=1)
    elif kind == "gzip-bomb":  # ~50 KB compressed, tens of MiB decoded; the limit is 8 MiB here
        line = ",".join(str(v) for v in frame.iloc[0].tolist()) + "\n"
        body = (",".join(frame.columns) + "\n" + line * 400_000).encode()
        return gzip.compress(body, compresslevel=9)
    return rows.to_csv(index=False).encode()


HOSTILE = {
    "infinite": "column 'income' has 1 infinite value(s)",
    "mixed": "column 'income' mixes numbers and text",
    "no-labels": "no labeled rows",
    "text-for-number": "column 'income' holds text values where the model expects numeric",
    "unexpected-column": "has column(s) the model does not know: favourite_colour",
    "wide": "columns, more than the 1000 allowed",
    "gzip-bomb": "decodes to more than 8 MiB",
}


def deploy_from_intake(chain, data, name: str) -> dict:
    receipt = chain.intake(data, name)
    assert receipt["action"] == "retrain", receipt
    chain.pump(receipt["run_id"])
    run = chain.run(receipt["run_id"])
    assert run["status"] == "succeeded", run["events"][-3:]
    return run


def lineage_of(chain, run: dict) -> dict:
    return registry.version_info(chain.storage, chain.model, run["steps"]["register"]["outputs"]["version"])["lineage"]


def hostile_case(chain, labeled_frame, kind: str) -> None:
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1", labeled_max_bytes=str(8 * 1024 * 1024))
    deploy_from_intake(chain, labeled_frame.iloc[:1000], "first.csv")
    name = f"bad-{kind}.csv" + (".gz" if kind == "gzip-bomb" else "")
    receipt = chain.intake(hostile(labeled_frame.iloc[1000:], kind), name)
    assert receipt["action"] == "quarantined" and HOSTILE[kind] in receipt["detail"], receipt
    run = deploy_from_intake(chain, labeled_frame.iloc[1000:], "second.csv")
    files = [f["name"].rsplit("/", 1)[1] for f in lineage_of(chain, run)["data"]["files"]]
    assert sorted(files) == ["first.csv", "second.csv"]  # the bad file was never a candidate
    assert registry.resolve(chain.storage, chain.model, "production") == 2


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_file_is_quarantined_and_the_next_clean_upload_still_trains(chain, labeled_frame, kind):
    hostile_case(chain, labeled_frame, kind)


@pytest.mark.parametrize("kind", ["mixed", "gzip-bomb"])
def test_hostile_files_on_azurite(azure_chain, labeled_frame, kind):
    hostile_case(azure_chain, labeled_frame, kind)


def test_a_declared_new_column_is_accepted(chain, labeled_frame):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1", new_columns="favourite_colour")
    deploy_from_intake(chain, labeled_frame.iloc[:1000], "first.csv")
    assert chain.intake(hostile(labeled_frame.iloc[1000:], "unexpected-column"), "wider.csv")["action"] == "retrain"


def test_the_same_content_twice_counts_once(chain, labeled_frame):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1")
    data = labeled_frame.iloc[:1000].to_csv(index=False).encode()
    run = deploy_from_intake(chain, data, "customers.csv")
    again = chain.intake(data, "customers-copy.csv")
    assert again["action"] == "same-content" and "customers.csv" in again["detail"]
    assert lineage_of(chain, run)["data"]["rows"] == 1000


def test_a_retrain_with_nothing_new_registers_nothing(chain, labeled_frame):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1")
    deploy_from_intake(chain, labeled_frame.iloc[:1000], "customers.csv")
    run_id = chain.start(trigger={"kind": "timer"})  # the scheduled retrain: the same dataset and code
    chain.pump(run_id)
    run = chain.run(run_id)
    assert run["status"] == "skipped" and "nothing new to learn" in run["steps"]["retrain"]["detail"]
    assert [v["version"] for v in registry.versions(chain.storage, chain.model)] == [1]


def test_drift_waits_for_labels_then_the_labeled_upload_retrains_on_new_data(chain, labeled_frame):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1")
    first = deploy_from_intake(chain, labeled_frame.iloc[:1000], "customers.csv")
    name = "incoming/drifted.csv"
    etag = chain.storage.put_bytes(names.DATALAKE, name, (SAMPLE / "incoming" / "batch-drifted.csv").read_bytes())
    outcome = lake.handle_upload(chain.storage, context.settings(), name, etag)
    assert outcome.action == "labels-needed" and outcome.run_id is None
    [detected] = [n for n in chain.notifications() if n["event"] == "drift.detected"]
    assert detected["data"]["labels_needed"] is True and detected["data"]["report"].endswith(".json")
    assert [v["version"] for v in registry.versions(chain.storage, chain.model)] == [1]

    second = deploy_from_intake(chain, labeled_frame.iloc[1000:], "labels-for-the-drift.csv")
    assert "answers the drift" in second["reason"]
    assert json.loads(second["first_message"])["payload"]["report"] == detected["data"]["report"]
    before, after = lineage_of(chain, first), lineage_of(chain, second)
    assert before["data"]["version"] != after["data"]["version"] and after["data"]["rows"] == 2000
    assert lake.drift_pending(chain.storage, chain.model) is None


def feedback_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_feedback_retrains_once_enough_rows_arrived_not_on_every_call(chain, labeled_frame):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1", feedback_min_rows="100")
    deploy_from_intake(chain, labeled_frame.iloc[:1000], "customers.csv")
    first = chain.intake(feedback_csv(labeled_frame.iloc[1000:1060]), f"{names.FEEDBACK_PREFIX}{chain.model}/r-1.csv")
    assert first["action"] == "accepted" and "60 new feedback rows" in first["detail"]
    second = chain.intake(feedback_csv(labeled_frame.iloc[1060:1120]), f"{names.FEEDBACK_PREFIX}{chain.model}/r-2.csv")
    assert second["action"] == "retrain"


def entry(name: str, rows: int, age_days: float, now: datetime, sha: str | None = None) -> datasets.DatasetFile:
    return datasets.DatasetFile(name, "e", sha or name.rjust(64, "0")[-64:], rows,
                                (now - timedelta(days=age_days)).isoformat())


def test_the_window_keeps_the_newest_files_and_feedback_stays_within_its_share():
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    files = [entry("labeled/new.csv", 100, 1, now), entry("labeled/feedback/f2.csv", 300, 2, now),
             entry("labeled/feedback/f1.csv", 300, 3, now), entry("labeled/mid.csv", 400, 20, now),
             entry("labeled/old.csv", 500, 200, now)]
    by_age = datasets.select(files, datasets.Window(max_age_days=90), feedback_max_share=1.0, now=now)
    assert [f.name for f in by_age.files] == [f.name for f in files[:4]]
    assert by_age.left_out == [{"name": "labeled/old.csv", "reason": "older than 90 days (window)"}]
    by_rows = datasets.select(files, datasets.Window(max_rows=750), feedback_max_share=1.0, now=now)
    assert [f.name for f in by_rows.files] == ["labeled/new.csv", "labeled/feedback/f2.csv", "labeled/feedback/f1.csv"]
    capped = datasets.select(files, datasets.Window(), feedback_max_share=0.25, now=now)
    kept = {f.name for f in capped.files}
    assert "labeled/feedback/f1.csv" not in kept and "labeled/feedback/f2.csv" in kept  # the oldest goes first
    assert sum(f.rows for f in capped.files if f.feedback) <= 0.25 * sum(f.rows for f in capped.files)


class CountingStorage(MemoryStorage):
    """MemoryStorage that counts blob reads."""

    reads = 0

    def get_bytes(self, container, name):
        self.reads += 1
        return super().get_bytes(container, name)


def test_new_rows_are_counted_from_one_listing_not_one_read_per_entry():
    storage, now = CountingStorage(), datetime(2026, 12, 1, tzinfo=timezone.utc)
    for n in range(300):
        name = f"labeled/feedback/2026-12-01/r-{n}.csv" if n % 3 else f"labeled/m/up-{n}.csv"
        assert datasets.accept(storage, "m", entry(name, 10 + n, 1, now, sha=f"{n:064x}")) is None
    legacy = entry("labeled/m/before-metadata.csv", 7, 1, now, sha="f" * 64)  # written before entries had it
    storage.create_json(names.MODELS, f"m/dataset/{legacy.sha256}.json", dataclasses.asdict(legacy))
    storage.reads = 0
    counted = datasets.counts(storage, "m")
    assert storage.reads == 1  # the legacy entry only
    everything = datasets.entries(storage, "m")
    assert datasets.new_rows(counted, set()) == datasets.new_rows(everything, set())
    seen = {f.sha256 for f in everything[:100]}
    assert datasets.new_rows(counted, seen) == datasets.new_rows(everything, seen)
    assert datasets.new_rows(counted, seen) != datasets.new_rows(counted, set())


def test_an_old_file_changed_in_place_is_left_out_with_the_reason(chain, labeled_frame):
    chain.configure(retrain_coalesce_seconds="0", quality_tolerance="1")
    deploy_from_intake(chain, labeled_frame.iloc[:1000], "a.csv")
    blob = f"{names.LABELED_PREFIX}{chain.model}/a.csv"
    buffer = io.BytesIO()
    labeled_frame.iloc[:10].to_csv(buffer, index=False)
    chain.storage.put_bytes(names.DATALAKE, blob, buffer.getvalue())  # no trigger: intake never saw it
    run_id = chain.start(trigger={"kind": "timer"})
    chain.pump(run_id)
    assert "no usable labeled data" in chain.run(run_id)["steps"]["retrain"]["detail"]


def test_with_blob_versioning_an_old_dataset_reads_back_exactly(labeled_frame):
    from shared.model import training
    from shared.platform.memory_storage import MemoryStorage
    from shared.platform.settings import load_settings
    from tests.helpers.memory import MEMORY_CONNECTION

    storage = MemoryStorage(versioning=True)
    settings = load_settings({"AzureWebJobsStorage": MEMORY_CONNECTION, "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0"})
    blob = "labeled/versioned/a.csv"
    original = labeled_frame.iloc[:100].to_csv(index=False).encode()
    lake.handle_upload(storage, settings, blob, storage.put_bytes(names.DATALAKE, blob, original))
    storage.put_bytes(names.DATALAKE, blob, labeled_frame.iloc[100:110].to_csv(index=False).encode())  # no trigger
    data = training.load_labeled(storage, settings)
    [file] = data.files
    assert file["version_id"] and len(data.frame) == 100 and data.excluded == []
    assert data.frame.equals(pd.read_csv(io.BytesIO(original)))


def test_an_upload_retried_after_a_crash_past_its_dataset_entry_still_starts_its_run(chain, labeled_frame):
    """A worker that died after recording the file in the dataset, before the run: the retry must not
    take the entry for someone else's same content, or the upload would never train."""
    from datetime import datetime, timezone

    chain.configure(retrain_coalesce_seconds="0")
    blob = chain.upload(labeled_frame.iloc[:500], "crashed.csv")
    etag = (chain.storage.etag(names.DATALAKE, blob) or "").strip('"')
    first = lake.validate_labeled(chain.storage, context.settings(), blob, etag, datetime.now(timezone.utc))
    assert datasets.accept(chain.storage, chain.model, first) is None  # ... and then the worker died
    outcome = lake.handle_upload(chain.storage, context.settings(), blob, etag)
    assert outcome.action == "retrain" and outcome.run_id is not None

"""Lake blob names storage accepts but a path cannot hold: refused with a reason record named by the
name's hash, nothing read or copied by that name, and no other upload held up (the trigger returns
normally, and training's scan of labeled/ skips them)."""

from __future__ import annotations

import pytest

from shared.events import lake, quarantine
from shared.model import training
from shared.platform import context, names
from tests.events.test_lake import upload
from tests.helpers.event_data import csv_bytes, frame
from tests.helpers.events import queued, runs_of
from tests.helpers.hostile import HOSTILE_LAKE_NAMES

pytestmark = pytest.mark.usefixtures("env")



@pytest.mark.parametrize("label, name, why", HOSTILE_LAKE_NAMES, ids=[entry[0] for entry in HOSTILE_LAKE_NAMES])
def test_a_name_a_path_cannot_hold_is_refused_with_its_reason_kept(storage, functions, model_name, label, name, why):
    data = csv_bytes(frame(20, seed=1))
    upload(storage, functions, name, data)  # returns normally: the trigger does not retry it
    record = storage.read_json(names.DATALAKE, quarantine.refused_name(name)).value
    assert why in record["reason"] and record["name"] == name
    assert storage.get_bytes(names.DATALAKE, name)[0] == data  # the original stays
    assert [item.name for item in storage.list(names.DATALAKE, names.QUARANTINE_PREFIX)] == [
        quarantine.refused_name(name)]  # no copy by that name
    assert not runs_of(storage, model_name) and not queued(storage, names.FETCH_QUEUE)


def test_a_refused_name_does_not_hold_up_the_next_upload(storage, functions, model_name, unique):
    upload(storage, functions, "labeled/../stuck.csv", csv_bytes(frame(20, seed=1)))
    upload(storage, functions, f"labeled/{unique}/fine.csv", csv_bytes(frame(20, seed=2)))
    [run] = runs_of(storage, model_name)
    assert run["trigger"]["blob"] == f"labeled/{unique}/fine.csv"


def test_names_up_to_999_characters_are_handled(storage, functions, model_name):
    name = "labeled/" + "n" * 987 + ".csv"
    assert len(name) == 999 and names.lake_name_problem(name) is None
    upload(storage, functions, name, b"no,target\n1,2\n")  # quarantined: its copy and reason fit Azure's limit
    assert len(quarantine.reason_name(name)) <= names.MAX_BLOB_NAME
    assert storage.exists(names.DATALAKE, quarantine.reason_name(name))


def test_a_run_manifest_naming_a_bad_name_reads_the_rest(storage, env, unique):
    """Intake never lets a bad name into a dataset; a run's manifest (payload "blobs") could still name
    one: it is left out with the reason, not read (it could resolve to another blob)."""
    good = f"labeled/{unique}/good.csv"
    storage.put_bytes(names.DATALAKE, "labeled/a/../../models/evil.csv", csv_bytes(frame(20, seed=1)))
    storage.put_bytes(names.DATALAKE, good, csv_bytes(frame(30, seed=2)))
    data = training.load_labeled(storage, context.settings(), ["labeled/a/../../models/evil.csv", good])
    assert [f["name"] for f in data.files] == [good] and len(data.frame) == 30
    assert [e["name"] for e in data.excluded] == ["labeled/a/../../models/evil.csv"]
    assert "'..' segment" in data.excluded[0]["reason"]


def test_a_redelivered_refused_name_rewrites_the_same_record(storage, env):
    first = lake.handle_upload(storage, context.settings(), "datalake/labeled/x/../y.csv", '"e1"')
    again = lake.handle_upload(storage, context.settings(), "datalake/labeled/x/../y.csv", '"e1"')
    assert first.action == again.action == "refused" and first.detail == again.detail
    assert len(list(storage.list(names.DATALAKE, quarantine.REFUSED_PREFIX))) == 1

"""The registry: version allocation, commit marker, idempotent registration, aliases and rollback."""

from __future__ import annotations

import fractions
from concurrent.futures import ThreadPoolExecutor

import pytest
import skops.io as sio

from shared.model import registry
from shared.platform import names
from shared.platform.errors import BadRequest


def test_concurrent_registrations_get_distinct_versions_and_a_run_keeps_its_number(storage, unique):
    model = f"alloc-{unique}"
    run_ids = [f"run-{i}" for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        allocated = list(pool.map(lambda r: registry.allocate_version(storage, model, r), run_ids))
    assert sorted(allocated) == list(range(1, 9))
    assert [registry.allocate_version(storage, model, r) for r in run_ids] == allocated


def test_crash_between_staging_and_commit_shows_nothing_and_a_rerun_completes(storage, unique, trained_files):
    model = f"crash-{unique}"
    registry.stage(storage, model, "run-a", trained_files)
    # the crashed attempt: a version number taken and part of the files copied, no commit marker
    version = registry.allocate_version(storage, model, "run-a")
    storage.put_bytes(names.MODELS, registry.version_prefix(model, version) + "model.skops", b"partial")
    assert registry.versions(storage, model) == []
    with pytest.raises(registry.UnknownVersion):
        registry.load_estimator(storage, model, version)

    assert registry.register(storage, model, "run-a") == version
    assert registry.register(storage, model, "run-a") == version
    [committed] = registry.versions(storage, model)
    assert committed["version"] == 1 and committed["run_id"] == "run-a"
    info = registry.version_info(storage, model, 1)
    assert info["lineage"]["version"] == 1 and info["metrics"]["holdout"]["accuracy"] > 0.6
    assert registry.load_estimator(storage, model, 1).predict is not None
    assert registry.load_profile(storage, model, 1) is not None


class CheckedBeforeTheCommit:
    """A storage on which the next registration saw no commit marker: it checked just before another
    registration of the same run committed, and copies after it."""

    def __init__(self, storage):
        self.storage, self.hidden = storage, True

    def exists(self, container, name):
        if self.hidden and name.endswith(registry.COMMIT_MARKER):
            self.hidden = False
            return False
        return self.storage.exists(container, name)

    def __getattr__(self, name):
        return getattr(self.storage, name)


def test_a_registration_overlapping_a_commit_rewrites_nothing_the_marker_does_not_name(storage, unique,
                                                                                       trained_files, monkeypatch):
    import hashlib

    model = f"overlap-{unique}"
    registry.stage(storage, model, "run-a", trained_files)
    monkeypatch.setattr(registry, "utcnow", lambda: "2026-01-01T00:00:00.000+00:00")
    assert registry.register(storage, model, "run-a") == 1
    monkeypatch.setattr(registry, "utcnow", lambda: "2026-01-01T00:05:00.000+00:00")  # the slower copy
    assert registry.register(CheckedBeforeTheCommit(storage), model, "run-a") == 1
    [marker] = registry.versions(storage, model)
    prefix = registry.version_prefix(model, 1)
    assert {name: hashlib.sha256(storage.get_bytes(names.MODELS, prefix + name)[0]).hexdigest()
            for name in registry.ARTIFACTS} == marker["sha256"]
    assert registry.version_info(storage, model, 1)["lineage"]["registered_at"] == "2026-01-01T00:00:00.000+00:00"


def test_register_redelivered_registers_once(chain, quick_retrain):
    run_id = chain.start([])
    quick_retrain(run_id)
    [body] = chain.take(names.REGISTER_QUEUE, run_id)
    chain.deliver("register", body)
    chain.deliver("register", body)  # the host delivers it again
    assert [v["version"] for v in registry.versions(chain.storage, chain.model)] == [1]
    document, _ = registry.aliases(chain.storage, chain.model)
    assert document["aliases"]["candidate"]["version"] == 1
    assert [h["alias"] for h in document["history"]] == ["candidate"]
    # the redelivery re-sends the test message (in case the first was lost); the test step runs once
    chain.pump(run_id)
    run = chain.run(run_id)
    assert run["status"] == "succeeded" and run["steps"]["test"]["attempts"] == 1
    assert run["steps"]["register"]["attempts"] == 1


def commit_versions(storage, model, files, count):
    for index in range(count):
        registry.stage(storage, model, f"r{index}", files)
        registry.register(storage, model, f"r{index}")


def test_aliases_keep_previous_and_history_and_rollback_skips_bad_versions(storage, unique, trained_files):
    model = f"alias-{unique}"
    commit_versions(storage, model, trained_files, 4)
    for version in (1, 2, 3):
        registry.move_alias(storage, model, "production", version, why=f"v{version}", by="ci", run_id=f"r{version}")
    _, etag = registry.aliases(storage, model)
    registry.move_alias(storage, model, "production", 3, why="again", by="ci", run_id="r3")
    document, same_etag = registry.aliases(storage, model)
    assert same_etag == etag  # no change, no write
    assert document["aliases"]["previous"]["version"] == 2

    document = registry.rollback(storage, model, why="bad v3", by="alice")
    assert document["aliases"]["production"]["version"] == 2
    assert document["aliases"]["previous"]["version"] == 1
    assert document["history"][-2] | {"at": None} == {"at": None, "alias": "production", "from": 3, "to": 2,
                                                      "why": "bad v3", "by": "alice", "run_id": None, "rollback": True}
    registry.move_alias(storage, model, "production", 4, why="v4", by="ci", run_id="r4")
    document = registry.rollback(storage, model, why="bad v4", by="alice")
    assert document["aliases"]["production"]["version"] == 2
    assert document["aliases"]["previous"]["version"] == 1  # not 3, which was rolled back from
    registry.rollback(storage, model, why="again", by="alice")
    with pytest.raises(registry.NoPrevious):
        registry.rollback(storage, model, why="nothing left", by="alice")
    with pytest.raises(registry.UnknownVersion):
        registry.move_alias(storage, model, "production", 9, why="x", by="y")


def test_untrusted_types_are_refused(trained_files):
    estimator = registry.loads_estimator(trained_files["model.skops"])
    estimator.extra = fractions.Fraction(1, 3)
    with pytest.raises(registry.UntrustedArtifact, match="fractions.Fraction"):
        registry.loads_estimator(sio.dumps(estimator))


def test_model_names_are_checked():
    with pytest.raises(BadRequest, match="not valid"):
        registry.staging_prefix("../etc", "r")

"""A whole `full` run, walked by feeding each queued message to its trigger: labeled upload to
production = version 1, then new data to production = version 2 with version 1 kept as previous.
The chain test on the real emulator: its triggers reach Azurite through the app's settings."""

from __future__ import annotations

from shared.model import registry


def test_full_run_deploys_version_1_then_version_2(azure_chain, labeled_frame):
    chain = azure_chain
    first = labeled_frame.iloc[:1500]
    run_id = chain.start([chain.upload(first, "part-1.csv")])
    assert chain.pump(run_id) == ["fetch", "retrain", "register", "test", "deploy"]
    run = chain.run(run_id)
    assert run["status"] == "succeeded"
    assert run["steps"]["approve"]["status"] == "skipped"
    assert [g["name"] for g in run["steps"]["test"]["outputs"]["gates"]] == [
        "artifact_loads", "scoring_contract", "quality", "latency"]
    assert registry.resolve(chain.storage, chain.model, "production") == 1
    assert registry.resolve(chain.storage, chain.model, "candidate") == 1

    second_run = chain.start([chain.upload(first, "part-1.csv"), chain.upload(labeled_frame.iloc[1500:], "part-2.csv")])
    chain.pump(second_run)
    assert chain.run(second_run)["status"] == "succeeded"
    document, _ = registry.aliases(chain.storage, chain.model)
    assert document["aliases"]["production"]["version"] == 2
    assert document["aliases"]["production"]["run_id"] == second_run
    assert document["aliases"]["previous"]["version"] == 1
    assert [v["version"] for v in registry.versions(chain.storage, chain.model)] == [1, 2]
    quality = next(g for g in chain.run(second_run)["steps"]["test"]["outputs"]["gates"] if g["name"] == "quality")
    assert "vs production v1" in quality["detail"]
    events = [n["event"] for n in chain.notifications()]
    assert events.count("model.deployed") == 2

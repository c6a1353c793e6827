"""Runs execute the pushed commit: the example ML repository in a real git repository (the `repo` and
`push` fixtures of tests/chain/conftest.py), its pushes run
through fetch, unit tests, training from the snapshot, gates through its inference code and its
integration tests; the lineage names the commit and proves it with the hashes of the files that ran."""

from __future__ import annotations

import hashlib

from shared.model import registry


def test_a_training_commit_trains_its_own_code_and_the_lineage_proves_it(chain, repo, push):
    commit = repo.git("rev-parse", "HEAD")
    run_id = push("training")
    assert chain.pump(run_id) == ["fetch", "unit_test", "retrain", "register", "test", "deploy"]
    run = chain.run(run_id)
    assert run["status"] == "succeeded", run["events"][-3:]
    assert run["steps"]["unit_test"]["outputs"]["unit_tests"]["passed"] > 0
    gates = {g["name"]: g for g in run["steps"]["test"]["outputs"]["gates"]}
    assert gates["integration_tests"]["passed"] and "inference.score" in gates["artifact_loads"]["detail"]
    version = run["steps"]["register"]["outputs"]["version"]
    code = registry.version_info(chain.storage, chain.model, version)["lineage"]["code"]
    assert code["commit"] == commit and code["kind"] == "repository" and code["inference"] == "inference.score"
    assert {"training/train.py", "training/features.py"} <= set(code["files"])
    for path, digest in code["files"].items():
        assert hashlib.sha256(repo.git_bytes("show", f"{commit}:{path}")).hexdigest() == digest


def test_a_commit_that_fails_a_unit_test_is_rejected_and_trains_nothing(chain, repo, push):
    test = repo.path / "tests" / "unit" / "test_broken.py"
    test.write_text("def test_the_new_feature_is_positive():\n    assert -1 > 0\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "a failing test")
    run_id = push("training")
    assert chain.pump(run_id) == ["fetch", "unit_test"]
    run = chain.run(run_id)
    assert run["status"] == "rejected"
    assert "test_the_new_feature_is_positive" in run["steps"]["unit_test"]["detail"]
    assert registry.versions(chain.storage, chain.model) == []


def test_a_broken_driftline_toml_stops_the_run_naming_the_key(chain, repo, push):
    config = repo.path / "driftline.toml"
    config.write_text(config.read_text().replace('entry_point = "training.train:train"', 'entry_point = "nonsense"'))
    repo.git("commit", "-q", "-am", "broken config")
    run_id = push("training")
    assert chain.pump(run_id) == ["fetch"]
    run = chain.run(run_id)
    assert run["status"] == "failed" and "entry_point" in run["steps"]["fetch"]["detail"]


def test_new_data_trains_the_branch_tip_first_then_the_code_production_was_trained_from(chain, repo, labeled_frame):
    first = repo.git("rev-parse", "HEAD")
    run_id = chain.start([chain.upload(labeled_frame, "first.csv")])
    chain.pump(run_id)
    run = chain.run(run_id)
    assert run["status"] == "succeeded", run["events"][-3:]
    assert run["steps"]["fetch"]["outputs"]["code"]["commit"] == first
    assert "tip of main" in run["steps"]["fetch"]["outputs"]["code"]["chosen"]
    (repo.path / "NOTES.txt").write_text("not pushed yet\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "a commit nothing was pushed for")
    again = chain.start([chain.upload(labeled_frame.sample(frac=0.9, random_state=1), "second.csv")])
    chain.pump(again)
    code = chain.run(again)["steps"]["fetch"]["outputs"]["code"]
    assert code["commit"] == first and "production v1" in code["chosen"]
    version = chain.run(again)["steps"]["register"]["outputs"]["version"]
    assert registry.version_info(chain.storage, chain.model, version)["lineage"]["code"]["commit"] == first


def commit_rounded_probabilities(repo) -> str:
    """Commit an inference change a score answer shows (probabilities to two decimals); returns it."""
    score = repo.path / "inference" / "score.py"
    score.write_text(score.read_text().replace(
        "return model.predict_proba(add_features(frame)).tolist()",
        "return [[round(p, 2) for p in row] for row in model.predict_proba(add_features(frame)).tolist()]"))
    repo.git("commit", "-q", "-am", "probabilities to two decimals")
    return repo.git("rev-parse", "HEAD")


def test_an_inference_commit_makes_a_new_release_that_serves_its_code(chain, repo, push, labeled_frame):
    from shared.platform import context
    from shared.serving import lookups, scoring

    trained_by = repo.git("rev-parse", "HEAD")
    chain.pump(push("training"))
    serves = commit_rounded_probabilities(repo)
    run_id = push("app")
    assert chain.pump(run_id) == ["fetch", "unit_test", "test", "deploy"]
    assert chain.run(run_id)["status"] == "succeeded", chain.run(run_id)["events"][-3:]

    release = lookups.serving_lineage(chain.storage, chain.model)["release"]
    assert release == {"version": 1, "training_commit": trained_by, "inference_commit": serves,
                       "inference_snapshot": release["inference_snapshot"], "inference_module": "inference.score"}
    records = labeled_frame.drop(columns=["label"]).head(5).to_dict(orient="records")
    answer = scoring.Scorer.create(chain.storage, context.settings()).score({"records": records})
    assert answer.version == 1
    assert all(p == round(p, 2) for row in answer.probabilities for p in row)  # the new commit's code serves


def test_with_a_canary_new_inference_code_serves_its_share_first_then_is_promoted(chain, repo, push, labeled_frame):
    from shared.model import canary, deploy
    from shared.platform import context
    from shared.serving import scoring

    chain.pump(push("training"))
    chain.configure(canary_percent="50", canary_min_requests="4", canary_flush_requests="1")
    serves = commit_rounded_probabilities(repo)
    run_id = push("app")
    assert chain.pump(run_id) == ["fetch", "unit_test", "test", "deploy"]
    assert chain.run(run_id)["steps"]["deploy"]["outputs"]["deployed"]["alias"] == "canary"
    document = registry.aliases(chain.storage, chain.model)[0]
    table = document["aliases"]
    assert table["canary"]["version"] == table["production"]["version"] == 1  # same model, other code
    assert table["canary"]["code"]["commit"] == serves and "code" not in table["production"]

    scorer = scoring.Scorer.create(chain.storage, context.settings())
    records = labeled_frame.drop(columns=["label"]).head(5).to_dict(orient="records")
    rounded = {}
    for key in (f"caller-{i}" for i in range(16)):
        answer = scorer.score({"records": records}, request_key=key)
        assert answer.alias == deploy.route(chain.model, key, document)
        rounded[answer.alias] = all(p == round(p, 2) for row in answer.probabilities for p in row)
    assert rounded == {"canary": True, "production": False}  # each share served by its own code
    scorer.flush()
    counted = canary.canary_stats(chain.storage, chain.model)["aliases"]
    assert counted["canary"]["requests"] + counted["production"]["requests"] == 16

    assert canary.evaluate_canary(chain.storage, context.settings(), chain.model).action == "promote"
    table = registry.aliases(chain.storage, chain.model)[0]["aliases"]
    assert table["production"]["version"] == 1 and table["production"]["code"]["commit"] == serves
    assert "canary" not in table and "code" not in table["previous"]

"""The test step's gates: a broken artifact, a worse model, untrusted types, the project's own check."""

from __future__ import annotations

from shared.model import registry


def gates_of(run, step="test"):
    return {g["name"]: g for g in run["steps"][step]["outputs"]["gates"]}


def test_model_breaking_the_scoring_contract_is_rejected(chain, labeled_frame):
    chain.configure(training_entry_point="tests.helpers.entry_points:wrong_shape")
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    assert chain.pump(run_id) == ["fetch", "retrain", "register", "test"]
    run = chain.run(run_id)
    assert run["status"] == "rejected"
    gates = gates_of(run)
    assert gates["artifact_loads"]["passed"] and not gates["scoring_contract"]["passed"]
    assert "shape (20, 2)" in gates["scoring_contract"]["detail"]
    assert "scoring_contract" in run["steps"]["test"]["detail"]
    assert registry.resolve(chain.storage, chain.model, "production") is None
    rejected = [n for n in chain.notifications() if n["event"] == "run.rejected"]
    assert len(rejected) == 1 and rejected[0]["run_id"] == run_id


def test_model_worse_than_production_on_the_same_rows_is_rejected(chain, labeled_frame):
    chain.train_version(labeled_frame)
    chain.configure(training_entry_point="tests.helpers.entry_points:constant")
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    chain.pump(run_id)
    run = chain.run(run_id)
    assert run["status"] == "rejected"
    quality = gates_of(run)["quality"]
    assert not quality["passed"] and quality["value"] < quality["threshold"]
    assert "vs production v1" in quality["detail"]
    assert registry.resolve(chain.storage, chain.model, "production") == 1


def test_untrusted_artifact_fails_the_first_gate(chain, labeled_frame):
    chain.configure(training_entry_point="tests.helpers.entry_points:untrusted")
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    chain.pump(run_id)
    run = chain.run(run_id)
    assert run["status"] == "rejected"
    assert list(gates_of(run)) == ["artifact_loads"]
    assert "fractions.Fraction" in gates_of(run)["artifact_loads"]["detail"]


def test_project_integration_check_and_latency_budget(chain, quick_retrain):
    chain.configure(integration_tests="tests.helpers.entry_points:integration_fails", latency_budget_ms="0.001")
    run_id = chain.start([])
    quick_retrain(run_id)
    chain.pump(run_id)
    gates = gates_of(chain.run(run_id))
    assert not gates["integration"]["passed"] and "returned False" in gates["integration"]["detail"]
    assert not gates["latency"]["passed"] and gates["latency"]["threshold"] == 0.001


def test_a_push_without_a_code_source_runs_none_of_its_code(chain, quick_retrain):
    first = chain.start([])
    quick_retrain(first)
    chain.pump(first)
    run_id = chain.start(plan="app", trigger={"kind": "push", "commit": "abc"})
    assert chain.pump(run_id) == ["fetch"]
    run = chain.run(run_id)
    assert run["status"] == "skipped" and "no code source is configured" in run["steps"]["fetch"]["detail"]
    assert run["steps"]["test"] == {"status": "skipped", "detail": "not run: the run skipped at fetch",
                                    "finished": run["steps"]["test"]["finished"]}
    history = registry.aliases(chain.storage, chain.model)[0]["history"]
    assert [h["alias"] for h in history].count("production") == 1  # nothing moved

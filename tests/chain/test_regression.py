"""Regression models through the real chain: the house-prices sample trains (built-in regressor and the
example repository's own code), is gated with rmse in the right direction, serves numbers without
probabilities, and its canary is judged on feedback error. Also: a production model that cannot be
scored on the held-out rows is never a silent pass (DRIFTLINE_UNSCORABLE_PRODUCTION)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.model import canary, registry
from shared.platform import context, names
from shared.platform.errors import BadRequest
from shared.serving import feedback, scoring
from tests.chain.test_gates import gates_of
from tests.helpers.chain import SAMPLE
from tests.repo.gitrepo import GitRepo

HOUSES = SAMPLE / "labeled" / "houses.csv"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "house_prices"


@pytest.fixture
def houses() -> pd.DataFrame:
    return pd.read_csv(HOUSES)


@pytest.fixture
def prices(chain):
    """The chain on the house-prices sample: target `price`, task left to detection."""
    chain.configure(target_column="price")
    return chain


def serve(chain, records, key="k"):
    scorer = scoring.Scorer.create(chain.storage, context.settings())
    try:
        return scorer, scorer.score({"records": records, "request_id": key}).to_dict()
    finally:
        scorer.close()


def test_a_continuous_target_trains_a_regressor_that_is_gated_and_serves_numbers(prices, houses):
    run_id, version = prices.train_version(houses)
    info = registry.version_info(prices.storage, prices.model, version)
    assert info["schema"]["task"] == "regression" and "classes" not in info["schema"]
    assert info["lineage"]["task"]["how"].startswith("detected from the target: float64")
    assert info["lineage"]["parameters"]["task"] == "regression"
    holdout = info["metrics"]["holdout"]
    assert set(holdout) == {"rmse", "mae", "r2", "n"} and holdout["r2"] > 0.8
    assert holdout["mae"] < holdout["rmse"] < 0.25 * houses["price"].mean()
    gates = gates_of(prices.run(run_id))
    assert gates["scoring_contract"]["passed"] and "finite numbers" in gates["scoring_contract"]["detail"]
    assert gates["quality"]["detail"].startswith("rmse ") and "no production model" in gates["quality"]["detail"]
    estimator = registry.load_estimator(prices.storage, prices.model, version)
    assert type(estimator.steps[-1][1]).__name__ == "HistGradientBoostingRegressor"

    records = houses.drop(columns=["price"]).head(3).to_dict(orient="records")
    _, answer = serve(prices, records)
    assert answer["version"] == version and "probabilities" not in answer and "classes" not in answer
    assert all(isinstance(p, float) and p > 0 for p in answer["predictions"])
    truth = houses["price"].head(3).to_numpy()
    assert np.all(np.abs(np.array(answer["predictions"]) - truth) < 0.5 * truth)


def test_a_regressor_with_a_higher_rmse_than_production_is_rejected(prices, houses):
    prices.train_version(houses)
    prices.configure(training_entry_point="tests.helpers.entry_points:mean_price")
    run_id = prices.start([prices.upload(houses, "data.csv")])
    prices.pump(run_id)
    run = prices.run(run_id)
    quality = gates_of(run)["quality"]
    assert run["status"] == "rejected" and quality["outcome"] == "failed"
    assert quality["value"] > quality["threshold"]  # lower is better: above the threshold fails
    assert "rmse" in quality["detail"] and "lower is better" in quality["detail"]
    assert registry.resolve(prices.storage, prices.model, "production") == 1


def test_the_metric_is_configurable_and_the_tolerance_relative_for_errors(prices, houses):
    prices.configure(quality_metric="mae", quality_tolerance="0.5")
    prices.train_version(houses)
    prices.configure(training_entry_point="tests.helpers.entry_points:mean_price")
    run_id = prices.start([prices.upload(houses, "data.csv")])
    prices.pump(run_id)
    quality = gates_of(prices.run(run_id))["quality"]
    production_mae = registry.version_info(prices.storage, prices.model, 1)["metrics"]["holdout"]["mae"]
    assert quality["threshold"] == pytest.approx(production_mae * 1.5)  # same holdout rows, +50%
    assert quality["value"] > quality["threshold"] and quality["detail"].startswith("mae ")

    prices.configure(quality_metric="accuracy")
    run_id = prices.start([prices.upload(houses, "again.csv")])
    prices.pump(run_id)
    quality = gates_of(prices.run(run_id))["quality"]
    assert quality["outcome"] == "failed" and "accuracy is a classification metric" in quality["detail"]


def test_a_regressor_predicting_values_that_are_not_finite_breaks_the_contract(prices, houses):
    prices.configure(training_entry_point="tests.helpers.entry_points:not_finite", task="regression")
    run_id = prices.start([prices.upload(houses, "data.csv")])
    prices.pump(run_id)
    run = prices.run(run_id)
    contract = gates_of(run)["scoring_contract"]
    assert run["status"] == "rejected" and not contract["passed"]
    assert "20 value(s) that are not finite numbers" in contract["detail"]


def test_a_declared_regression_task_needs_numeric_labels(chain, labeled_frame):
    chain.configure(task="regression", target_column="region")  # text labels
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    chain.pump(run_id)
    run = chain.run(run_id)
    assert run["status"] == "failed"
    assert "a regression model needs numbers" in run["steps"]["retrain"]["detail"]


def test_intake_quarantines_text_labels_when_the_task_is_declared_a_regression(chain, labeled_frame):
    from shared.events import quarantine

    chain.configure(task="regression", target_column="region")  # text labels, no production yet
    receipt = chain.intake(labeled_frame, "text-labels.csv")
    assert receipt["action"] == "quarantined" and receipt["run_id"] is None
    blob = chain.upload(labeled_frame, "text-labels.csv")
    reason = chain.storage.read_json(names.DATALAKE, quarantine.reason_name(blob)).value["reason"]
    assert "the target 'region' holds text values" in reason and "DRIFTLINE_TASK=regression" in reason
    chain.configure(task="auto")  # the same file is a classifier's data
    assert chain.intake(labeled_frame, "text-labels-again.csv")["action"] != "quarantined"


def unscorable_production(prices, houses) -> str:
    """Production v1 refuses rows outside its training range; the next run's held-out rows have bigger
    houses, so production cannot be scored on them. Returns the second run's id."""
    prices.configure(training_entry_point="tests.helpers.entry_points:range_checked")
    prices.train_version(houses[houses["area_m2"] < 120])
    prices.configure(training_entry_point="tests.helpers.entry_points:small")
    return prices.start([prices.upload(houses, "all.csv")])


def test_a_production_model_that_cannot_be_scored_rejects_the_run_by_default(prices, houses):
    run_id = unscorable_production(prices, houses)
    prices.pump(run_id)
    run = prices.run(run_id)
    quality = gates_of(run)["quality"]
    assert quality["outcome"] == "not_evaluated" and quality["passed"] is False
    assert "production v1 cannot be scored" in quality["detail"] and "area_m2 outside the training range" in quality["detail"]
    assert "DRIFTLINE_UNSCORABLE_PRODUCTION=fail" in quality["detail"]
    assert run["status"] == "rejected" and "quality not evaluated" in run["steps"]["test"]["detail"]
    assert run["steps"]["test"]["outputs"]["warnings"][0].startswith("quality not evaluated")
    assert registry.resolve(prices.storage, prices.model, "production") == 1
    assert [n["event"] for n in prices.notifications()].count("run.rejected") == 1


def test_pass_with_warning_deploys_and_says_so_on_the_run_and_the_notification(prices, houses):
    run_id = unscorable_production(prices, houses)
    prices.configure(unscorable_production="pass-with-warning")
    prices.pump(run_id)
    run = prices.run(run_id)
    quality = gates_of(run)["quality"]
    assert run["status"] == "succeeded" and quality["outcome"] == "not_evaluated"
    assert "the run goes on with this warning" in quality["detail"]
    assert "production v1 cannot be scored" in run["steps"]["test"]["detail"]
    assert registry.resolve(prices.storage, prices.model, "production") == 2
    deployed = [n for n in prices.notifications() if n["event"] == "model.deployed" and n["run_id"] == run_id]
    assert len(deployed) == 1 and "production v1 cannot be scored" in deployed[0]["data"]["warnings"][0]


def test_a_change_of_task_is_not_evaluated_against_the_production_of_the_other_kind(chain, labeled_frame):
    chain.train_version(labeled_frame)
    chain.configure(task="regression")  # the 0/1 churn label, now declared continuous
    run_id = chain.start([chain.upload(labeled_frame, "data.csv")])
    chain.pump(run_id)
    run = chain.run(run_id)
    quality = gates_of(run)["quality"]
    assert run["status"] == "rejected" and quality["outcome"] == "not_evaluated"
    assert "it is a classification model and this version a regression one" in quality["detail"]
    assert registry.version_info(chain.storage, chain.model, 2)["schema"]["task"] == "regression"


def test_auto_keeps_the_production_task_when_an_upload_looks_different(chain, labeled_frame):
    chain.train_version(labeled_frame)
    frame = labeled_frame.assign(label=labeled_frame["label"].astype(float))  # 0.0 / 1.0
    run_id = chain.start([chain.upload(frame, "floats.csv")])
    chain.pump(run_id)
    version = chain.run(run_id)["steps"]["register"]["outputs"]["version"]
    lineage = registry.version_info(chain.storage, chain.model, version)["lineage"]
    assert lineage["task"] == {"task": "classification", "how": "the production model's task (DRIFTLINE_TASK=auto)"}


def test_the_canary_of_a_regressor_is_judged_on_feedback_error(prices, houses):
    prices.train_version(houses)
    prices.configure(quality_tolerance="0.1", canary_percent="50", canary_min_requests="1", canary_min_feedback="3",
                     canary_max_latency_ms="600000")  # judged on feedback alone: a cold first score may be slow
    prices.train_version(houses.iloc[:-1], "again.csv")  # all rows but one: a near-equal model and rmse
    table = registry.aliases(prices.storage, prices.model)[0]["aliases"]
    assert table["canary"]["version"] == 2

    from shared.model import deploy

    document = registry.aliases(prices.storage, prices.model)[0]
    key = next(f"k{i}" for i in range(200) if deploy.route(prices.model, f"k{i}", document) == "canary")
    records = houses.drop(columns=["price"]).head(4).to_dict(orient="records")
    scorer = scoring.Scorer.create(prices.storage, context.settings())
    try:
        answer = scorer.score({"records": records, "request_id": key}).to_dict()
        assert answer["alias"] == "canary" and "probabilities" not in answer
        labels = [round(p + offset, 1) for p, offset in zip(answer["predictions"], (10, -20, 30, -5), strict=True)]
        scorer.flush()
        assert feedback.record(scorer, {"request_id": answer["request_id"], "labels": labels})["written"] == 1
        scorer.flush()
    finally:
        scorer.close()
    stats = canary.canary_stats(prices.storage, prices.model)["aliases"]["canary"]
    expected = sum(abs(p - label) for p, label in zip(answer["predictions"], labels, strict=True))
    assert stats["feedback_total"] == 4 and stats["feedback_correct"] == 0
    assert stats["feedback_abs_error"] == pytest.approx(expected)
    squares = sum((p - label) ** 2 for p, label in zip(answer["predictions"], labels, strict=True))
    assert stats["feedback_abs_error_sq"] == pytest.approx(squares)  # the spread of the A/B comparison

    canary.record_canary_outcome(prices.storage, prices.model, "production", feedback_total=4,
                                 feedback_abs_error=expected / 2)  # production's error: half the canary's
    decision = canary.evaluate_canary(prices.storage, context.settings(), prices.model)
    assert decision.action == "rollback" and "feedback mean absolute error" in decision.reason
    assert registry.resolve(prices.storage, prices.model, "production") == 1


def test_a_regressor_canary_within_the_tolerance_is_promoted(prices, houses):
    prices.train_version(houses)
    prices.configure(canary_percent="50", canary_min_requests="1", canary_min_feedback="3",
                     quality_tolerance="0.1")
    prices.train_version(houses.iloc[:-1], "again.csv")  # a near-equal model: a new dataset
    canary.record_canary_outcome(prices.storage, prices.model, "canary", feedback_total=10, feedback_abs_error=105.0)
    canary.record_canary_outcome(prices.storage, prices.model, "production", feedback_total=10, feedback_abs_error=100.0)
    decision = canary.evaluate_canary(prices.storage, context.settings(), prices.model)
    assert decision.action == "promote", decision.reason  # mae 10.5 within 10% of 10.0
    assert registry.resolve(prices.storage, prices.model, "production") == 2


def test_the_example_repository_trains_its_declared_regression_model(chain, houses, tmp_path):
    """A training push of examples/house_prices: its own code trains in the sandbox, its unit tests run,
    the task comes from its driftline.toml, and the version serves through the chain."""
    from shared.chain import runs

    work = tmp_path / "house_prices"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    config = work / "driftline.toml"
    config.write_text(config.read_text().replace('name = "house-prices"', f'name = "{chain.model}"'))
    repository = GitRepo(work)
    repository.git("add", "-A")
    repository.git("commit", "-q", "-m", "the house-prices model")
    chain.configure(code_source=f"git:{work}", target_column="price")
    commit = repository.git("rev-parse", "HEAD")
    run_id, _ = runs.start_run(chain.storage, plan="training", model=chain.model, reason=f"push {commit[:7]}",
                               trigger={"kind": "push", "commit": commit, "branch": "main"},
                               payload={"commit": commit, "blobs": [chain.upload(houses, "houses.csv")]})
    chain.pump(run_id)
    run = chain.run(run_id)
    assert run["status"] == "succeeded", run["events"][-3:]
    version = run["steps"]["register"]["outputs"]["version"]
    info = registry.version_info(chain.storage, chain.model, version)
    assert info["lineage"]["code"]["commit"] == commit and "training/train.py" in info["lineage"]["code"]["files"]
    assert info["lineage"]["task"]["how"] == "declared in driftline.toml [model] task"
    assert info["schema"]["task"] == "regression" and info["metrics"]["training"]["r2"] > 0.8
    assert json.loads(json.dumps(info["metrics"]["holdout"]))["rmse"] > 0
    _, answer = serve(chain, houses.drop(columns=["price"]).head(2).to_dict(orient="records"))
    assert len(answer["predictions"]) == 2 and "probabilities" not in answer


def test_the_committed_house_prices_match_their_generator(tmp_path):
    import runpy

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_house_prices.py"
    write = runpy.run_path(str(script))["write"]
    paths = write(tmp_path, 1200, 11)
    assert paths[0].read_bytes() == HOUSES.read_bytes()
    assert [p.read_bytes() for p in write(tmp_path / "again", 1200, 11)] == [p.read_bytes() for p in paths]
    later = pd.read_csv(paths[1])
    assert "price" not in later.columns and len(later) == 300


def test_feedback_for_a_regressor_must_be_numbers(prices, houses):
    prices.train_version(houses)
    records = houses.drop(columns=["price"]).head(2).to_dict(orient="records")
    scorer = scoring.Scorer.create(prices.storage, context.settings())
    try:
        answer = scorer.score({"records": records}).to_dict()
        with pytest.raises(BadRequest, match="is not a number, and .* is a regression model"):
            feedback.record(scorer, {"request_id": answer["request_id"], "labels": [100.0, "expensive"]})
        assert feedback.record(scorer, {"request_id": answer["request_id"], "labels": [100.0, 250]})["written"] == 1
    finally:
        scorer.close()

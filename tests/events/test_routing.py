"""The routing table: pure decisions from changed paths (no storage, no network)."""

from __future__ import annotations

import pytest

from shared.events.routing import RoutingError, classify, load_rules, parse_rules, resolve_path


@pytest.fixture(scope="module")
def rules():
    return load_rules("routing.toml")  # the repository's own file, resolved from the app root


@pytest.mark.parametrize(
    ("changed", "plan", "reason_has"),
    [
        (["training/features.py"], "training", "training code changed"),
        (["shared/model/training.py", "functions/api.py"], "training", "training"),
        (["shared/model/default_model.py"], "training", "training"),
        (["requirements-train.txt"], "training", "training"),
        (["requirements.txt"], "training", "training"),
        (["functions/api.py"], "app", "app code changed"),
        (["shared/serving/scoring.py", "docs/events.md"], "app", "app code"),
        (["app/static/index.html"], "app", "app code"),
        (["docs/events.md", "notebooks/eda.ipynb", "README.md", "shared/NOTES.md"], None, "only ignored"),
        (["tools/release.sh"], "app", "outside the routing file"),
        (["docs/a.md", "tools/release.sh"], "app", "outside the routing file"),
        ([], None, "no files changed"),
        (None, "training", "changed files unknown"),
    ],
)
def test_decisions(rules, changed, plan, reason_has):
    decision = classify(changed, rules)
    assert decision.plan == plan
    assert reason_has in decision.reason


def test_matched_lists_every_path_by_section(rules):
    decision = classify(["training/a.py", "functions/b.py", "docs/c.md", "x.cfg", "/training/a.py"], rules)
    assert decision.matched == {
        "training": ["training/a.py"],
        "app": ["functions/b.py"],
        "ignore": ["docs/c.md"],
        "unmatched": ["x.cfg"],
    }


def test_reason_names_a_few_paths_and_counts_the_rest(rules):
    decision = classify([f"training/m{i}.py" for i in range(5)], rules)
    assert decision.reason.endswith("and 2 more")


def test_training_section_wins_over_a_broader_app_glob():
    rules = parse_rules('[training]\npaths = ["src/model/**"]\n[app]\npaths = ["src/**"]\n')
    assert classify(["src/model/fit.py"], rules).plan == "training"
    assert classify(["src/api.py"], rules).plan == "app"


def test_missing_sections_are_empty():
    rules = parse_rules('[ignore]\npaths = ["docs/**"]\n')
    assert classify(["docs/x.md"], rules).plan is None
    assert classify(["src/x.py"], rules).plan == "app"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[training\npaths = []", "not valid TOML"),
        ('[trainig]\npaths = ["x"]', "unknown section(s) trainig"),
        ('[app]\npaths = "functions/**"', "list of non-empty glob strings"),
        ('[app]\npaths = ["ok", 3]', "list of non-empty glob strings"),
        ('[app]\nglobs = ["x"]', "must hold only"),
    ],
)
def test_broken_routing_text_names_the_file_and_problem(text, problem):
    with pytest.raises(RoutingError) as caught:
        parse_rules(text, "/app/routing.toml")
    assert str(caught.value).startswith("/app/routing.toml:")
    assert problem in str(caught.value)


def test_missing_routing_file_names_it(tmp_path):
    with pytest.raises(RoutingError, match="nowhere.toml: cannot read the routing file"):
        load_rules(str(tmp_path / "nowhere.toml"))


def test_relative_paths_resolve_from_the_app_root():
    assert resolve_path("routing.toml").parent == resolve_path("function_app.py").parent
    assert (resolve_path("routing.toml").parent / "function_app.py").exists()


def test_ignore_wins_over_training_and_app(rules):
    assert classify(["functions/README.md", "training/NOTES.md"], rules).plan is None

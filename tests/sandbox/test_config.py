"""driftline.toml: the example parses to what it says; every malformed file is refused with a
message naming its section and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.repo.config import (
    DataSection, InferenceSection, ModelSection, RepoConfigError, RoutingSection, TestsSection, load_config, parse_config,
)
from tests.sandbox.paths import EXAMPLE

MINIMAL = """
[model]
name = "churn"
target = "label"
[training]
entry_point = "training.train:train"
"""


def test_the_example_parses_to_what_it_says():
    config = load_config(EXAMPLE)
    assert config.model == ModelSection(name="churn", target="label")
    assert config.training.entry_point == "training.train:train"
    assert config.training.module == "training.train"
    assert dict(config.training.params) == {"n_estimators": 200, "max_depth": 6, "test_size": 0.2}
    assert config.inference == InferenceSection(module="inference.score")
    assert config.tests == TestsSection(unit="tests/unit", integration="tests/integration")
    assert config.routing == RoutingSection(
        training=("training/**", "requirements.txt", "driftline.toml"),
        app=("inference/**", "tests/**"),
        ignore=("**/*.md", "docs/**", "notebooks/**"),
    )


def test_optional_sections_may_be_left_out():
    config = parse_config(MINIMAL)
    assert config.inference is None and config.routing is None
    assert config.tests == TestsSection(unit=None, integration=None)
    assert dict(config.training.params) == {}


def test_the_data_section_sets_the_window_and_new_columns():
    config = parse_config(MINIMAL + '[data]\nnew_columns = ["tenure_days"]\nmax_age_days = 90\nmax_rows = 5000\n')
    assert config.data == DataSection(new_columns=("tenure_days",), max_age_days=90, max_rows=5000)
    assert parse_config(MINIMAL).data == DataSection()


def test_the_task_is_optional_and_declared_in_the_model_section():
    assert parse_config(MINIMAL).model.task is None
    declared = parse_config(MINIMAL.replace('target = "label"', 'target = "price"\ntask = "regression"'))
    assert declared.model == ModelSection(name="churn", target="price", task="regression")


def test_params_are_read_only_and_paths_normalized():
    config = parse_config(MINIMAL + 'params = { depth = 3 }\n[tests]\nunit = "./tests/unit/"\n')
    with pytest.raises(TypeError):
        config.training.params["depth"] = 4  # type: ignore[index]
    assert config.tests.unit == "tests/unit"


@pytest.mark.parametrize(("text", "names"), [
    ("[model\n", "not valid TOML"),
    (MINIMAL + "[deploy]\nslot = 1\n", "unknown section [deploy]"),
    (MINIMAL + "colour = 1\n", "unknown key [training] colour"),
    (MINIMAL.replace('target = "label"', 'target = "label"\nkind = "x"'), "unknown key [model] kind"),
    ('model = "churn"\n[training]\nentry_point = "a:b"\n', "[model] must be a table"),
    ('[training]\nentry_point = "a:b"\n', "[model] is required"),
    ('[model]\nname = "churn"\ntarget = "label"\n', "[training] is required"),
    (MINIMAL.replace('name = "churn"\n', ""), "[model] name is required"),
    (MINIMAL.replace('name = "churn"', 'name = "churn model"'), "[model] name 'churn model' is not valid"),
    (MINIMAL.replace('name = "churn"', 'name = "churn\\n"'), "[model] name"),
    (MINIMAL.replace('target = "label"', "target = 3"), "[model] target must be a non-empty string"),
    (MINIMAL.replace('target = "label"', 'target = " "'), "[model] target must be a non-empty string"),
    (MINIMAL.replace('"training.train:train"', '"training.train"'), "[training] entry_point must look like"),
    (MINIMAL.replace('"training.train:train"', '"training/train.py:train"'), "[training] entry_point must look like"),
    (MINIMAL.replace('"training.train:train"', '"training.train:a.b"'), "[training] entry_point must look like"),
    (MINIMAL.replace('"training.train:train"', '"class.x:train"'), "[training] entry_point must look like"),
    (MINIMAL + "params = 3\n", "[training] params must be a table"),
    (MINIMAL + "[inference]\n", "[inference] module is required"),
    (MINIMAL + '[inference]\nmodule = "inference/score.py"\n', "[inference] module must be a module name"),
    (MINIMAL + '[inference]\nmodule = "x"\npredict = "y"\n', "unknown key [inference] predict"),
    (MINIMAL + '[tests]\nunit = "/abs/tests"\n', "[tests] unit must be a relative path"),
    (MINIMAL + '[tests]\nintegration = "tests/../../etc"\n', "[tests] integration must be a relative path"),
    (MINIMAL + '[tests]\nunit = "tests\\\\unit"\n', "[tests] unit must be a relative path"),
    (MINIMAL + '[tests]\nunit = "C:/tests"\n', "[tests] unit must be a relative path"),
    (MINIMAL + "[tests]\nunit = 1\n", "[tests] unit must be a non-empty string"),
    (MINIMAL + '[tests]\nsmoke = "tests/smoke"\n', "unknown key [tests] smoke"),
    (MINIMAL + '[routing]\ntraining = "training/**"\n', "[routing] training must be a list"),
    (MINIMAL + '[routing]\napp = ["ok/**", ""]\n', "[routing] app must be a list of non-empty glob strings"),
    (MINIMAL + '[routing]\nignore = ["!"]\n', "[routing] ignore has a bad glob '!'"),
    (MINIMAL + '[routing]\nignore = ["# docs"]\n', "[routing] ignore glob '# docs' matches nothing"),
    (MINIMAL + '[routing]\nfull = ["x"]\n', "unknown key [routing] full"),
    (MINIMAL + '[data]\nnew_columns = "tenure"\n', "[data] new_columns must be a list of column names"),
    (MINIMAL + "[data]\nmax_rows = 0\n", "[data] max_rows must be a positive integer"),
    (MINIMAL + "[data]\nmax_rows = 1.5\n", "[data] max_rows must be a positive integer"),
    (MINIMAL + "[data]\nmax_age_days = true\n", "[data] max_age_days must be a positive number"),
    (MINIMAL + "[data]\nwindow = 3\n", "unknown key [data] window"),
    (MINIMAL.replace('target = "label"', 'target = "label"\ntask = "forecast"'),
     "[model] task must be one of classification, regression, got 'forecast'"),
    (MINIMAL.replace('target = "label"', 'target = "label"\ntask = 1'), "[model] task must be a non-empty string"),
])
def test_each_error_names_its_key(text, names):
    with pytest.raises(RepoConfigError) as raised:
        parse_config(text)
    message = str(raised.value)
    assert message.startswith("driftline.toml: ")
    assert names in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_the_entry_point_message_is_the_documented_one():
    with pytest.raises(RepoConfigError, match=r"^driftline\.toml: \[training\] entry_point must look like "
                                              r"'package\.module:function'\.$"):
        parse_config(MINIMAL.replace('"training.train:train"', '"train"'))


def test_a_missing_file_is_its_own_error(tmp_path):
    with pytest.raises(RepoConfigError, match="the repository has no driftline.toml at its root"):
        load_config(tmp_path)


def test_load_finds_the_modules_and_test_paths_in_the_repository(example_copy: Path):
    (example_copy / "tests" / "integration" / "test_model.py").unlink()
    (example_copy / "tests" / "integration").rmdir()
    with pytest.raises(RepoConfigError, match=r"\[tests\] integration names tests/integration, which is not in"):
        load_config(example_copy)
    (example_copy / "inference" / "score.py").unlink()
    with pytest.raises(RepoConfigError, match=r"\[inference\] module names module inference.score"):
        load_config(example_copy)
    (example_copy / "training" / "train.py").unlink()
    with pytest.raises(RepoConfigError, match=r"\[training\] entry_point names module training.train"):
        load_config(example_copy)


def test_links_out_of_the_repository_are_refused(tmp_path: Path):
    outside = tmp_path / "outside"
    (outside / "unit").mkdir(parents=True)
    (outside / "driftline.toml").write_text(MINIMAL)
    repo = tmp_path / "repo"
    (repo / "training").mkdir(parents=True)
    (repo / "training" / "train.py").write_text("def train(frame, params): ...\n")
    (repo / "driftline.toml").write_text(MINIMAL + '[tests]\nunit = "tests"\n')
    os.symlink(outside / "unit", repo / "tests")
    with pytest.raises(RepoConfigError, match=r"\[tests\] unit names tests, which is not in the repository"):
        load_config(repo)
    (repo / "driftline.toml").unlink()
    os.symlink(outside / "driftline.toml", repo / "driftline.toml")
    with pytest.raises(RepoConfigError, match="a link to outside the repository"):
        load_config(repo)

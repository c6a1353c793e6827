"""The repository's tests in the sandbox: the example's unit tests pass; a failing test is named;
the integration tests pass against a model trained by the example itself, and refuse a model
file with an untrusted type; the JUnit report is read without trusting it."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from shared.repo.config import TestsSection, load_config
from shared.repo.pytest_plugin import UntrustedModel, load_model
from shared.repo.sandbox import GIB, Limits
from shared.repo.testrun import JUnitError, read_junit, run_integration_tests, run_unit_tests
from tests.sandbox.paths import EXAMPLE

FAILING_TEST = '''

def test_deliberately_wrong():
    assert list(add_features(customers()).columns)[-1] == "no_such_feature"
'''


def test_the_examples_unit_tests_pass():
    before = sorted(EXAMPLE.rglob("*"))
    report = run_unit_tests(EXAMPLE, load_config(EXAMPLE))
    assert report.ok, report.summary + "\n" + report.output_tail
    assert (report.passed, report.failed, report.errors) == (4, 0, 0)
    assert report.kind == "unit" and report.path == "tests/unit" and report.exit_code == 0
    assert report.summary.startswith("the unit tests in tests/unit passed (0 failed, 0 errors, 4 passed")
    assert b"<testsuite" in report.junit_xml
    assert sorted(EXAMPLE.rglob("*")) == before  # no cache, no bytecode written into the snapshot


def test_a_failing_unit_test_is_reported_by_name(example_copy: Path):
    test_file = example_copy / "tests" / "unit" / "test_features.py"
    test_file.write_text(test_file.read_text() + FAILING_TEST)
    report = run_unit_tests(example_copy, load_config(example_copy))
    assert not report.ok
    assert (report.passed, report.failed, report.exit_code) == (4, 1, 1)
    assert report.failing == ("tests.unit.test_features::test_deliberately_wrong",)
    assert report.summary == ("the unit tests in tests/unit failed (1 failed, 0 errors, 4 passed, 0 skipped in "
                              f"{report.duration_s:.1f} s): tests.unit.test_features::test_deliberately_wrong.")


def test_a_collection_error_is_an_error_by_name(example_copy: Path):
    (example_copy / "tests" / "unit" / "test_broken.py").write_text("import no_such_module_anywhere\n")
    report = run_unit_tests(example_copy, load_config(example_copy))
    assert not report.ok and report.errors == 1
    assert report.failing == ("tests.unit.test_broken",)
    assert report.summary.startswith("the unit tests in tests/unit failed (0 failed, 1 error, 0 passed")


def test_no_tests_collected_fails_but_an_absent_path_is_not_run(example_copy: Path):
    shutil.rmtree(example_copy / "tests" / "unit")
    (example_copy / "tests" / "unit").mkdir()
    (example_copy / "tests" / "unit" / "helpers.py").write_text("VALUE = 1\n")
    config = load_config(example_copy)
    report = run_unit_tests(example_copy, config)
    assert not report.ok and report.exit_code == 5 and report.passed == 0
    assert "ran no test" in report.summary
    absent = run_unit_tests(example_copy, replace(config, tests=TestsSection(unit=None, integration=None)))
    assert absent.ok and absent.path is None and absent.exit_code is None
    assert absent.summary == "no unit tests: driftline.toml has no [tests] unit."


def test_configuration_above_the_snapshot_does_not_apply(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")
    (tmp_path / "conftest.py").write_text("raise RuntimeError('conftest above the snapshot was loaded')\n")
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "train.py").write_text("def train(frame, params): ...\n")
    (repo / "driftline.toml").write_text('[model]\nname = "m"\ntarget = "y"\n[training]\nentry_point = "train:train"\n'
                                         '[tests]\nunit = "tests"\n')
    (repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\nmarkers = ["slow: slow tests"]\n'
                                         'addopts = "--strict-markers"\n')
    (repo / "tests" / "test_one.py").write_text("import pytest\n\n@pytest.mark.slow\ndef test_one():\n    pass\n")
    report = run_unit_tests(repo, load_config(repo))
    assert report.ok, report.summary + "\n" + report.output_tail


def test_a_test_hitting_the_memory_limit_is_reported_as_memory(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "train.py").write_text("def train(frame, params): ...\n")
    (repo / "driftline.toml").write_text('[model]\nname = "m"\ntarget = "y"\n[training]\nentry_point = "train:train"\n'
                                         '[tests]\nunit = "tests"\n')
    (repo / "tests" / "test_big.py").write_text("def test_big():\n    assert bytearray(8 * 1024 ** 3)\n")
    report = run_unit_tests(repo, load_config(repo), limits=Limits(memory_bytes=1 * GIB))
    assert not report.ok and report.memory_exceeded and report.failed == 1
    assert report.summary == "the unit tests in tests were stopped: memory limit exceeded in tests.test_big::test_big."


def test_a_junit_report_replaced_by_a_link_is_not_read(example_copy: Path):
    (example_copy / "tests" / "unit" / "conftest.py").write_text(
        "import os\n\n"
        "def pytest_unconfigure(config):\n"
        "    report = config.option.xmlpath\n"
        "    os.remove(report)\n"
        "    os.symlink('/dev/zero', report)\n"
    )
    report = run_unit_tests(example_copy, load_config(example_copy))
    assert not report.ok and report.junit_xml == b""
    assert report.problem is not None and "link" in report.problem
    assert report.summary.startswith("the unit tests in tests/unit did not report (pytest exit 0): the JUnit report "
                                     "is a link")


def test_the_integration_tests_pass_against_the_examples_model(candidate):
    report = run_integration_tests(EXAMPLE, load_config(EXAMPLE), candidate)
    assert report.ok, report.summary + "\n" + report.output_tail
    assert (report.passed, report.failed, report.errors) == (5, 0, 0)
    assert report.summary.startswith("the integration tests in tests/integration passed")


def test_the_plugin_loads_nothing_of_the_app_but_itself_and_its_error(example_copy: Path, candidate):
    (example_copy / "tests" / "integration" / "test_modules.py").write_text(
        "import sys\n\n"
        "def test_nothing_of_the_app_is_loaded(model):\n"
        "    loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('shared', 'azure', 'functions'))\n"
        "    assert loaded == ['shared', 'shared.platform', 'shared.platform.errors', 'shared.repo',\n"
        "                      'shared.repo.pytest_plugin']\n"
    )
    report = run_integration_tests(example_copy, load_config(example_copy), candidate)
    assert report.ok and report.passed == 6, report.summary + "\n" + report.output_tail


def test_without_inference_the_model_predicts_itself_and_the_featured_test_fails(example_copy: Path, candidate):
    config = load_config(example_copy)
    report = run_integration_tests(example_copy, replace(config, inference=None), candidate)
    # The example's model needs its features: model.predict on raw rows cannot find them.
    assert not report.ok and report.failed >= 1
    assert "tests.integration.test_model::test_predictions_are_known_classes_one_per_row" in report.failing


def test_a_model_file_with_an_untrusted_type_is_refused(candidate):
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    shady = sio.dumps(Pipeline([("run", FunctionTransformer(os.system))]))
    with pytest.raises(UntrustedModel, match="posix.system"):
        load_model(shady, candidate.trusted_prefixes)
    report = run_integration_tests(EXAMPLE, load_config(EXAMPLE), replace(candidate, model=shady))
    assert not report.ok and report.errors == 5 and report.passed == 0
    assert b"UntrustedModel" in report.junit_xml and b"posix.system" in report.junit_xml
    assert "tests.integration.test_model::test_inference_equals_the_model_on_featured_frames" in report.failing


def test_the_trusted_model_loads_in_process(candidate):
    model = load_model(candidate.model, candidate.trusted_prefixes)
    assert list(model.classes_) == [0, 1]


JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.1">
<testcase classname="tests.unit.test_a" name="test_ok" time="0.001"/>
<testcase classname="tests.unit.test_a" name="test_bad[1]" time="0.001"><failure message="assert 1 == 2">x</failure></testcase>
<testcase classname="tests.unit.test_a.TestGroup" name="test_teardown" time="0.001"><error message="teardown">y</error></testcase>
<testcase classname="tests.unit.test_a" name="test_later" time="0.001"><skipped message="later"/></testcase>
<testcase classname="tests.unit.test_a" name="test_big" time="0.001"><failure message="MemoryError">z</failure></testcase>
</testsuite></testsuites>"""


def test_the_junit_report_is_counted_per_test_case():
    junit = read_junit(JUNIT)
    assert (junit.passed, junit.failed, junit.errors, junit.skipped) == (1, 2, 1, 1)
    assert junit.failing == ("tests.unit.test_a::test_bad[1]", "tests.unit.test_a.TestGroup::test_teardown",
                             "tests.unit.test_a::test_big")
    assert junit.memory_error
    assert not read_junit(JUNIT.replace(b'message="MemoryError"', b'message="assert 0"')).memory_error


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b"<testsuites>&lol2;</testsuites>",
    b'<?xml version="1.0"?><!DOCTYPE t SYSTEM "file:///etc/passwd"><testsuites/>',
])
def test_a_junit_report_with_a_doctype_is_refused(data):
    with pytest.raises(JUnitError, match="DOCTYPE"):
        read_junit(data)


def test_a_malformed_junit_report_is_refused():
    with pytest.raises(JUnitError, match="not well-formed"):
        read_junit(b"<testsuites><testcase name='x'></testsuites>")
    with pytest.raises(JUnitError, match="not well-formed"):
        read_junit(b"<testsuites>&undefined;</testsuites>")

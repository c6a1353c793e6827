"""The repository's requirements.txt against the installed libraries: satisfied, an unmet range,
not installed, markers, and the lines that are not supported."""

from __future__ import annotations

from pathlib import Path

from shared.repo.requirements import check_requirements, installed_version, unmet_requirements
from tests.sandbox.paths import EXAMPLE

SKLEARN = installed_version("scikit-learn")


def repository(tmp_path: Path, text: str) -> Path:
    (tmp_path / "requirements.txt").write_text(text)
    return tmp_path


def test_the_examples_requirements_are_met():
    assert SKLEARN is not None
    assert unmet_requirements(EXAMPLE) == ()


def test_satisfied_ranges_comments_extras_and_hashes(tmp_path):
    text = ("# what the code imports\n"
            "scikit-learn>=1.4,<2  # the model\n"
            "pandas[parquet] >= 2.2\n"
            "numpy>=1.26 \\\n"
            "    --hash=sha256:0123456789abcdef\n"
            "\n")
    assert unmet_requirements(repository(tmp_path, text)) == ()


def test_an_unmet_range_names_package_range_and_installed_version(tmp_path):
    (unmet,) = unmet_requirements(repository(tmp_path, "pandas>=2\nscikit-learn<1.3\n"))
    assert unmet.line == 2 and unmet.requirement == "scikit-learn<1.3" and unmet.installed == SKLEARN
    assert unmet.message == f"the repository needs scikit-learn<1.3 but {SKLEARN} is installed."


def test_a_package_that_is_not_installed(tmp_path):
    (unmet,) = unmet_requirements(repository(tmp_path, "driftline-no-such-package>=1.0\n"))
    assert unmet.installed is None
    assert unmet.message == "the repository needs driftline-no-such-package>=1.0 but it is not installed."


def test_markers_are_evaluated():
    text = ('driftline-no-such-package>=1 ; python_version < "3"\n'
            'driftline-other-missing ; sys_platform == "linux" or sys_platform != "linux"\n')
    (unmet,) = check_requirements(text)
    assert unmet.line == 2 and "driftline-other-missing but it is not installed" in unmet.message


def test_other_spellings_of_a_name_are_the_same_package():
    assert installed_version("Scikit_Learn") == installed_version("scikit.learn") == SKLEARN
    assert check_requirements("Scikit_Learn>=1.4\n") == ()


def test_an_installed_prerelease_counts_like_any_version():
    versions = {"tool": "2.0rc1"}
    assert check_requirements("tool>=1.4\n", installed=versions.get) == ()
    (unmet,) = check_requirements("tool<2\n", installed=versions.get)
    assert unmet.message == "the repository needs tool<2 but 2.0rc1 is installed."


def test_options_direct_references_and_invalid_lines_are_unsupported():
    text = "-r base.txt\n--index-url https://example.org/simple\nfoo @ https://example.org/foo.whl\nbar==\n"
    unmet = check_requirements(text, installed=lambda name: "1.0")
    assert [u.line for u in unmet] == [1, 2, 3, 4]
    assert unmet[0].message == ("requirements.txt line 1: '-r base.txt' is an option, which is not supported: "
                                "list each requirement in the file itself.")
    assert "line 2: '--index-url https://example.org/simple' is an option" in unmet[1].message
    assert "line 3: 'foo @ https://example.org/foo.whl' is a direct reference" in unmet[2].message
    assert "line 4: 'bar==' is not a valid requirement" in unmet[3].message


def test_no_requirements_file_has_nothing_unmet(tmp_path):
    assert unmet_requirements(tmp_path) == ()

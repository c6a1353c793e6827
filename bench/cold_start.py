"""Cold start: time to import and index `function_app` against a bare `import azure.functions`.

Each repetition runs in a fresh interpreter and times only the import (and, for the app,
`app.get_functions()`), not the interpreter's own start-up. The app is imported from a copy of what
the package holds (`function_app.py`, `functions/`, `shared/`), twice: from source, and from the
bytecode infra/hooks/prepackage.sh writes before azd packages. Nothing is written at run time
(PYTHONDONTWRITEBYTECODE), as in Azure's read-only package; azure.functions comes from the venv's
site-packages, compiled when pip installed it, as the remote build's are. All three are measured in
the same run, interleaved, so machine noise hits them alike. Goal: the packaged app (with its
bytecode) at most 1.3x the bare import.

    .venv/bin/python bench/cold_start.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BARE = "import time; t = time.perf_counter(); import azure.functions; print(time.perf_counter() - t)"
APP = (
    "import time; t = time.perf_counter(); import function_app; n = len(function_app.app.get_functions()); "
    "print(time.perf_counter() - t)"
)


def package_copy(folder: Path, *, bytecode: bool) -> Path:
    """The app's tracked files in `folder`, compiled by the prepackage hook when `bytecode`."""
    listed = subprocess.run(["git", "ls-files", "-z", "function_app.py", "functions", "shared"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, folder / name)
    if bytecode:
        hook = folder / "infra" / "hooks" / "prepackage.sh"
        hook.parent.mkdir(parents=True)
        shutil.copyfile(ROOT / "infra" / "hooks" / "prepackage.sh", hook)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        subprocess.run(["sh", str(hook)], check=True, env=env)
        shutil.rmtree(folder / "infra")
    return folder


def timed(code: str, folder: Path) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(folder)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, check=True,
                            env=env)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source = package_copy(Path(scratch) / "source", bytecode=False)
        compiled = package_copy(Path(scratch) / "compiled", bytecode=True)
        bare, app_source, app_compiled = [], [], []
        for _ in range(args.repeat):
            bare.append(timed(BARE, source))
            app_source.append(timed(APP, source))
            app_compiled.append(timed(APP, compiled))
    ms = {name: statistics.median(values) * 1000
          for name, values in (("bare", bare), ("source", app_source), ("compiled", app_compiled))}
    print(f"repetitions                         {args.repeat}")
    print(f"import azure.functions              {ms['bare']:8.1f} ms (median; min {min(bare) * 1000:.1f})")
    print(f"import + index app, from source     {ms['source']:8.1f} ms (median; min {min(app_source) * 1000:.1f})")
    print(f"import + index app, with bytecode   {ms['compiled']:8.1f} ms (median; min {min(app_compiled) * 1000:.1f})")
    print(f"ratio from source / bare            {ms['source'] / ms['bare']:8.2f}x")
    print(f"ratio with bytecode / bare          {ms['compiled'] / ms['bare']:8.2f}x (goal <= 1.30x: the package)")


if __name__ == "__main__":
    main()

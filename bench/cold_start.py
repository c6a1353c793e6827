"""Cold start: time to import and index `function_app` against a bare `import azure.functions`.

Each repetition runs in a fresh interpreter and times only the import (and, for the app,
`app.get_functions()`), not the interpreter's own start-up. Both are measured in the same run,
interleaved, so machine noise hits both alike. Goal: the app at most 1.3x the bare import.

    .venv/bin/python bench/cold_start.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BARE = "import time; t = time.perf_counter(); import azure.functions; print(time.perf_counter() - t)"
APP = (
    "import time; t = time.perf_counter(); import function_app; n = len(function_app.app.get_functions()); "
    "print(time.perf_counter() - t)"
)


def timed(code: str) -> float:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    bare, app = [], []
    for _ in range(args.repeat):
        bare.append(timed(BARE))
        app.append(timed(APP))
    bare_ms, app_ms = statistics.median(bare) * 1000, statistics.median(app) * 1000
    print(f"repetitions            {args.repeat}")
    print(f"import azure.functions {bare_ms:8.1f} ms (median; min {min(bare) * 1000:.1f})")
    print(f"import + index app     {app_ms:8.1f} ms (median; min {min(app) * 1000:.1f})")
    print(f"ratio app / bare       {app_ms / bare_ms:8.2f}x (goal <= 1.30x)")


if __name__ == "__main__":
    main()

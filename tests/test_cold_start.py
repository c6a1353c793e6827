"""Importing and indexing the app must stay light: the heavy data libraries load only when used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The data libraries, and the storage SDK (about twice azure.functions' own import time), load
# inside the code that uses them. bench/cold_start.py measures the whole import against the bare
# azure.functions import.
HEAVY = (
    "pandas", "scipy", "sklearn", "pyarrow", "skops", "numpy",
    "azure.storage.blob", "azure.storage.queue", "azure.identity", "requests",
)

# The triggers import the core inside their handlers; at indexing only these are needed
# (names for bindings, settings for the blob trigger source, and the settings check at start, whose
# drift-config validation is the drift engine's stdlib-only config module).
CORE_AT_INDEXING = {"shared", "shared.platform", "shared.platform.errors", "shared.platform.names", "shared.platform.settings",
                    "shared.jobs", "shared.jobs.startup", "shared.drift", "shared.drift.config", "shared.drift.errors"}

PROBE = f"""
import json, sys
import function_app
function_app.app.get_functions()
print(json.dumps({{
    "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
    "core": sorted(m for m in sys.modules if m == "shared" or m.startswith("shared.")),
}}))
"""


def loaded_at_indexing() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_function_app_loads_no_heavy_library():
    assert loaded_at_indexing()["heavy"] == []


def test_triggers_load_the_core_on_first_use():
    assert set(loaded_at_indexing()["core"]) <= CORE_AT_INDEXING

"""``import shared.drift`` must stay light: the function app's cold start imports it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_loads_no_heavy_library():
    probe = ("import json, sys, shared.drift as d; d.DriftConfig(); d.UnreadableData('x');"
             "print(json.dumps(sorted(m for m in ('numpy','pandas','scipy','pyarrow') if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_lazy_names_resolve():
    import shared.drift as d
    from shared.drift.profile import Profile
    assert d.Profile is Profile and d.DriftResult.__name__ == "DriftResult"

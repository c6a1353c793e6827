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


def test_checking_an_upload_loads_neither_scipy_stats_nor_pandas(tmp_path):
    """scipy.stats (~0.7 s, ~50 MB) and pandas (~0.3 s, ~40 MB) cost more than counting a million rows."""
    rows = ["x,c,n"] + [f"{i * 0.37 % 11},{'ab'[i % 2] if i % 9 else ''},{'' if i % 13 == 0 else i % 5}"
                        for i in range(3000)]
    (tmp_path / "ref.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "cur.csv").write_text("\n".join(rows[:1] + [f"{float(r.split(',')[0]) + 0.3},{r.split(',', 1)[1].replace('ab', 'bz')}" for r in rows[1:]]) + "\n")
    probe = ("import json, sys, shared.drift as d;"
             f"p = d.build_profile({str(tmp_path / 'ref.csv')!r}); r = d.compare(p, {str(tmp_path / 'cur.csv')!r});"
             "r.to_json(); d.render_html(r);"
             "print(json.dumps(sorted(m for m in ('pandas', 'scipy.stats') if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []

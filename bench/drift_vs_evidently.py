"""Driftline's drift engine vs Evidently's DataDriftPreset on the same CSV files.

    python bench/drift_vs_evidently.py [--skip-10m]

Generates bench/data/ (gitignored): reference 100,000 rows, current 1,000,000
and 10,000,000 rows, 25 columns (20 numeric normal, 5 categorical with 8
levels), a 0.1 sd mean shift on every third numeric column. Each engine runs
in its own child process (Evidently in bench/.venv-evidently, created if
missing); wall time and peak RSS (ru_maxrss of the child via os.wait4) are
measured per child.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
EVIDENTLY_VENV = os.path.join(HERE, ".venv-evidently")
N_NUMERIC, N_CATEGORICAL, LEVELS = 20, 5, 8
CHUNK = 1_000_000


def _chunk(rng: np.random.Generator, n: int, shifted: bool) -> pa.Table:
    cols = {}
    for i in range(N_NUMERIC):
        mean, sd = i * 0.5, 1.0 + i * 0.1
        shift = 0.1 * sd if shifted and i % 3 == 0 else 0.0
        cols[f"num_{i:02d}"] = rng.normal(mean + shift, sd, n)
    levels = np.array([f"level_{k}" for k in range(LEVELS)])
    probs = np.arange(1, LEVELS + 1) / np.arange(1, LEVELS + 1).sum()
    for j in range(N_CATEGORICAL):
        cols[f"cat_{j}"] = levels[rng.choice(LEVELS, n, p=probs)]
    return pa.table(cols)


def generate(path: str, rows: int, shifted: bool, seed: int) -> str:
    if os.path.exists(path):
        return path
    os.makedirs(DATA, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = path + ".tmp"
    with pcsv.CSVWriter(tmp, _chunk(rng, 1, shifted).schema) as writer:
        done = 0
        while done < rows:
            n = min(CHUNK, rows - done)
            writer.write_table(_chunk(rng, n, shifted))
            done += n
    os.replace(tmp, path)
    return path


def ensure_evidently() -> str:
    python = os.path.join(EVIDENTLY_VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", EVIDENTLY_VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "evidently>=0.7,<0.8", "pandas<3"], check=True)
    return python


def run_child(argv: list[str]) -> dict:
    """Run a child, return its JSON output with wall seconds and peak RSS (MB) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[1]} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result.update(wall=wall, rss_mb=usage.ru_maxrss / 1024)
    return result


def median_run(results: list[dict]) -> dict:
    """The run with the median wall time, with wall and RSS replaced by their medians."""
    middle = sorted(results, key=lambda r: r["wall"])[len(results) // 2]
    return {**middle, "wall": statistics.median(r["wall"] for r in results),
            "rss_mb": statistics.median(r["rss_mb"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-10m", action="store_true", help="skip the 10M-row flat-memory run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each engine, interleaved; wall time and RSS are medians (default 1)")
    args = parser.parse_args()
    print("generating data (first run only) ...", flush=True)
    ref = generate(os.path.join(DATA, "reference_100k.csv"), 100_000, False, 1)
    cur = generate(os.path.join(DATA, "current_1m.csv"), 1_000_000, True, 2)
    ours_cmd = [sys.executable, os.path.join(HERE, "drift_ours_worker.py")]
    evidently_cmd = [ensure_evidently(), os.path.join(HERE, "drift_evidently_worker.py")]

    runs_ours, runs_evid = [], []
    for _ in range(args.repeat):  # interleaved, so load changes hit both engines alike
        runs_ours.append(run_child(ours_cmd + [ref, cur]))
        runs_evid.append(run_child(evidently_cmd + [ref, cur]))
    ours, evid = median_run(runs_ours), median_run(runs_evid)
    if args.repeat > 1:
        walls = lambda results, digits: ", ".join(f"{r['wall']:.{digits}f}" for r in results)
        print(f"runs (wall s): driftline {walls(runs_ours, 2)}; evidently {walls(runs_evid, 1)}")

    print(f"\n{'':22}{'driftline':>14}{'evidently':>14}{'ratio':>10}")
    print(f"{'wall time (s)':22}{ours['wall']:14.2f}{evid['wall']:14.2f}{evid['wall'] / ours['wall']:9.1f}x")
    print(f"{'peak RSS (MB)':22}{ours['rss_mb']:14.0f}{evid['rss_mb']:14.0f}{evid['rss_mb'] / ours['rss_mb']:9.1f}x")
    print(f"{'dataset drift':22}{str(ours['dataset_drift']):>14}{str(evid['dataset_drift']):>14}")
    print(f"{'share drifted':22}{ours['share']:14.2f}{evid['share']:14.2f}")
    print(f"\n{'column':10}{'shifted':>8}  {'driftline':32}{'evidently':32}")
    for name in sorted(ours["columns"]):
        o, e = ours["columns"][name], evid["columns"].get(name, {})
        shifted = name.startswith("num_") and int(name[4:]) % 3 == 0
        fmt = lambda r: f"{'DRIFT' if r.get('drifted') else 'ok':6}{r.get('value') or 0:8.4f} {(r.get('method') or '')[:16]}"
        print(f"{name:10}{'yes' if shifted else '':>8}  {fmt(o):32}{fmt(e):32}")
    goals = [("speed >= 20x", evid["wall"] / ours["wall"] >= 20), ("memory <= 1/4", ours["rss_mb"] * 4 <= evid["rss_mb"])]

    if not args.skip_10m:
        cur10 = generate(os.path.join(DATA, "current_10m.csv"), 10_000_000, True, 3)
        ours10 = run_child(ours_cmd + [ref, cur10])
        ratio = ours10["rss_mb"] / ours["rss_mb"]
        print(f"\ndriftline, 1M vs 10M current rows: peak RSS {ours['rss_mb']:.0f} MB vs {ours10['rss_mb']:.0f} MB "
              f"({ratio:.2f}x), wall {ours['wall']:.1f} s vs {ours10['wall']:.1f} s")
        goals.append(("flat memory (10M/1M RSS <= 1.2)", ratio <= 1.2))
    print("\n" + "\n".join(f"{'MET ' if ok else 'MISS'} {goal}" for goal, ok in goals))


if __name__ == "__main__":
    main()

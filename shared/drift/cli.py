"""Command line for data scientists.

    python -m shared.drift profile REF_FILE -o profile.json [--schema schema.json]
    python -m shared.drift compare CURRENT_FILE (--profile profile.json | --reference REF_FILE)
                                   [--json out.json] [--html out.html] [--config cfg.json]

Exit codes: 0 no drift, 1 drift, 2 error (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

from .config import DriftConfig
from .errors import UnreadableData


class _Progress:
    """Prints rows read and throughput to stderr at most every ``every`` seconds."""

    def __init__(self, label: str, size: int | None, every: float = 2.0) -> None:
        self.label, self.size, self.every = label, size, every
        self.start = self.last = time.monotonic()
        self.rows = self.bytes = 0

    def update(self, batch: Any, state: Any) -> None:
        if self.rows == 0:
            self.start = self.last = time.monotonic()
        self.rows += batch.num_rows
        self.bytes = state.bytes_read
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.report()

    def report(self, done: bool = False) -> None:
        secs = max(time.monotonic() - self.start, 1e-9)
        mb = self.bytes / 1e6
        of = f" of {self.size / 1e6:.0f} MB" if self.size else ""
        print(f"{self.label}: {'done, ' if done else ''}{self.rows:,} rows, {mb:.0f} MB{of} in {secs:.1f} s "
              f"({mb / secs:.0f} MB/s)", file=sys.stderr, flush=True)
        self.rows = 0 if done else self.rows


def _load_json_file(path: str, what: str) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except OSError as exc:
        raise SystemExit(_fail(f"cannot read {what} {path}: {exc.strerror}"))
    except ValueError as exc:
        raise SystemExit(_fail(f"{what} {path} is not valid JSON: {exc}"))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _observe_with_progress(profile: Any, path: str, config: DriftConfig) -> Any:
    from . import observe, read

    src = read.open_source(path)
    progress = _Progress(f"reading {os.path.basename(path)}", src.size)
    src.on_batch = progress.update
    observed = observe(profile, src, config=config)
    progress.report(done=True)
    return observed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.drift", description="Driftline data drift checks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile", help="build a reference profile from training data")
    p.add_argument("reference", help="CSV (.csv, .csv.gz), Parquet (.parquet, .pq) or JSON Lines file")
    p.add_argument("-o", "--output", required=True, help="where to write the profile JSON")
    p.add_argument("--schema", help='JSON file mapping columns to "numeric", "categorical" or "ignore"')
    p.add_argument("--config", help="JSON file of drift settings (DriftConfig.from_mapping)")
    c = sub.add_parser("compare", help="check current data against a profile or reference file")
    c.add_argument("current")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--profile", help="profile JSON made by 'profile'")
    src.add_argument("--reference", help="reference data file (profiled on the fly)")
    c.add_argument("--json", help="write the JSON report here")
    c.add_argument("--html", help="write the HTML report here")
    c.add_argument("--config", help="JSON file of drift settings (DriftConfig.from_mapping)")
    c.add_argument("--schema", help="column kinds for --reference (as for 'profile')")
    args = parser.parse_args(argv)
    try:
        config = DriftConfig.from_mapping(_load_json_file(args.config, "config") if args.config else None)
        schema = _load_json_file(args.schema, "schema") if args.schema else None
        if args.command == "profile":
            return _cmd_profile(args, schema, config)
        return _cmd_compare(args, schema, config)
    except UnreadableData as exc:
        return _fail(f"unreadable data: {exc.reason}")
    except ValueError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}")


def _build(path: str, schema: Any, config: DriftConfig) -> Any:
    from . import read
    from .profile import build

    src = read.open_source(path)
    progress = _Progress(f"profiling {os.path.basename(path)}", src.size)
    src.on_batch = progress.update
    profile = build(src, name=os.path.basename(path), schema=schema, config=config)
    progress.report(done=True)
    return profile


def _cmd_profile(args: argparse.Namespace, schema: Any, config: DriftConfig) -> int:
    profile = _build(args.reference, schema, config)
    with open(args.output, "wb") as fh:
        fh.write(profile.to_json())
    print(f"profile {profile.id}: {len(profile.columns)} columns, {profile.reference.rows:,} rows -> {args.output}",
          file=sys.stderr)
    return 0


def _cmd_compare(args: argparse.Namespace, schema: Any, config: DriftConfig) -> int:
    from .decide import decide
    from .html import render_html
    from .profile import Profile

    if args.profile:
        with open(args.profile, "rb") as fh:
            profile = Profile.from_json(fh.read())
    else:
        profile = _build(args.reference, schema, config)
    observed = _observe_with_progress(profile, args.current, config)
    result = decide(profile, observed, config, os.path.basename(args.current))
    if args.json:
        with open(args.json, "wb") as fh:
            fh.write(result.to_json())
    if args.html:
        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(render_html(result))
    print(f"{'DRIFT' if result.dataset_drift else 'no drift'}: {result.reason}")
    for col in sorted(result.columns, key=lambda c: -c.severity):
        if col.drifted:
            print(f"  {col.name}: {col.reason}")
    return 1 if result.dataset_drift else 0

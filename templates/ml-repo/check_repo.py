"""Check a watched ML repository as Driftline checks a pushed commit, before it is merged.

    python <driftline checkout>/templates/ml-repo/check_repo.py <repository root> [--model NAME] [--target COLUMN]

Run it with the Python and libraries the app runs with (`pip install -r <driftline>/requirements.txt`):
the app runs the repository's code with its own libraries, never the repository's. In the order of the
app's fetch and unit_test steps, it checks:

1. driftline.toml: parsed strictly, its paths, entry point and inference module found in the
   repository (`shared.repo.config.load_config`, the same function the app calls);
2. with --model / --target (the app's DRIFTLINE_MODEL_NAME / DRIFTLINE_TARGET_COLUMN): that
   driftline.toml names the same model and target, as the app requires;
3. requirements.txt against the installed libraries (`shared.repo.requirements.unmet_requirements`);
4. the [tests] unit tests, run by `shared.repo.testrun.run_unit_tests`: the same sandbox (a
   subprocess with a time and memory limit, an environment with no secrets), the same pytest options,
   the same verdict (a run with no test passing fails).

Each failed check prints one line starting with `driftline:`; exit 0 when every check passed, 1 when
one failed, 2 on bad usage. Integration tests need a trained candidate model, so they run in Driftline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DRIFTLINE_ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the ML repository's root (where driftline.toml is)")
    parser.add_argument("--model", help="the app's DRIFTLINE_MODEL_NAME; driftline.toml must name it")
    parser.add_argument("--target", help="the app's DRIFTLINE_TARGET_COLUMN; driftline.toml must name it")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a folder")
    sys.path.insert(0, str(DRIFTLINE_ROOT))

    from shared.repo.config import RepoConfigError, load_config
    from shared.repo.requirements import unmet_requirements
    from shared.repo.testrun import run_unit_tests

    root = args.root.resolve()
    try:
        config = load_config(root)
    except RepoConfigError as error:
        print(f"driftline: {error}")
        return 1
    print(f"driftline.toml: model {config.model.name!r}, target {config.model.target!r}, "
          f"entry point {config.training.entry_point}")
    problems = []
    if args.model is not None and config.model.name != args.model:
        problems.append(f"driftline.toml names model {config.model.name!r}, but the app serves {args.model!r}.")
    if args.target is not None and config.model.target != args.target:
        problems.append(f"driftline.toml names target {config.model.target!r}, but the app uses {args.target!r}.")
    problems += [unmet.message + "." for unmet in unmet_requirements(root)]
    if problems:
        for problem in problems:
            print(f"driftline: {problem}")
        return 1
    report = run_unit_tests(root, config)
    print(report.summary)
    if not report.ok:
        if report.output_tail:
            print(report.output_tail)
        print(f"driftline: {report.summary}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

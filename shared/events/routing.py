"""Which run a push starts, from the paths it changed and the routing file (`routing.toml`).

Each path falls in the first section that matches it, in the order ignore, training, app (so
`**/*.md` ignores a README even inside `functions/`). The decision is a pure function of the
changed paths and the rules:
- any `training` path -> plan "training" (the model may change: unit tests, retrain and everything after);
- else any `app` path, or any path no section matches -> plan "app" (test the production model
  with the new code, deploy). Unknown paths are treated as app code because everything in the
  repository ships with the function app; testing and deploying is the least that keeps production
  honest, while retraining for, say, a new helper script would waste a training run. A path that
  can change the model belongs in `training`;
- else every path is ignored (docs, notebooks) -> nothing runs.
When the payload cannot list the changed files (GitHub truncates, Azure DevOps never lists them),
`classify(None, ...)` takes the conservative action, the training plan.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.platform.errors import DriftlineError
from shared.repo.globs import GlobError, compile_globs, glob_list

SECTIONS = ("training", "app", "ignore")
PRECEDENCE = ("ignore", "training", "app")  # a path in `ignore` never counts, even under functions/
APP_ROOT = Path(__file__).resolve().parents[2]


class RoutingError(DriftlineError):
    """The routing file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Rules:
    source: str
    patterns: dict[str, tuple[str, ...]]
    specs: dict[str, Any] = field(repr=False, compare=False)

    def section_of(self, path: str) -> str | None:
        for section in PRECEDENCE:
            if self.specs[section].match_file(path):
                return section
        return None


@dataclass(frozen=True)
class Decision:
    plan: str | None
    reason: str
    matched: dict[str, list[str]]


def parse_rules(text: str, source: str = "<routing>") -> Rules:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RoutingError(f"{source}: not valid TOML ({error}).") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise RoutingError(f"{source}: unknown section(s) {', '.join(unknown)}; expected {', '.join(SECTIONS)}.")
    patterns: dict[str, tuple[str, ...]] = {}
    for section in SECTIONS:
        table = data.get(section, {})
        if not isinstance(table, dict) or set(table) - {"paths"}:
            raise RoutingError(f"{source}: [{section}] must hold only `paths = [\"glob\", ...]`.")
        try:
            patterns[section] = glob_list(table.get("paths", []), f"{source}: [{section}] paths")
        except GlobError as error:
            raise RoutingError(str(error)) from None
    return compile_rules(patterns, source)


def compile_rules(patterns: Mapping[str, Sequence[str]], source: str) -> Rules:
    """Rules from checked glob lists per section (the routing file's, or a driftline.toml's [routing])."""
    return Rules(source=source, patterns={s: tuple(patterns.get(s, ())) for s in SECTIONS},
                 specs={s: compile_globs(patterns.get(s, ())) for s in SECTIONS})


def resolve_path(routing_file: str) -> Path:
    path = Path(routing_file)
    return path if path.is_absolute() else APP_ROOT / path


def load_rules(routing_file: str) -> Rules:
    """Read the routing file named by settings.routing_file (relative to the app root)."""
    path = resolve_path(routing_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RoutingError(f"{path}: cannot read the routing file ({error.strerror or error}).") from None
    return parse_rules(text, str(path))


def classify(changed: Iterable[str] | None, rules: Rules) -> Decision:
    """The plan for a push that changed these paths (None: the payload could not list them)."""
    if changed is None:
        return Decision("training", "changed files unknown, so the whole training chain runs to be safe", {})
    matched: dict[str, list[str]] = {section: [] for section in (*SECTIONS, "unmatched")}
    for path in sorted({p.lstrip("/") for p in changed if p}):
        matched[rules.section_of(path) or "unmatched"].append(path)
    matched = {section: paths for section, paths in matched.items() if paths}
    if "training" in matched:
        return Decision("training", f"training code changed: {_sample(matched['training'])}", matched)
    if "app" in matched:
        return Decision("app", f"app code changed: {_sample(matched['app'])}", matched)
    if "unmatched" in matched:
        return Decision(
            "app",
            f"paths outside the routing file, treated as app code: {_sample(matched['unmatched'])}",
            matched,
        )
    if "ignore" in matched:
        return Decision(None, f"only ignored paths changed: {_sample(matched['ignore'])}", matched)
    return Decision(None, "no files changed", matched)


def _sample(paths: list[str], limit: int = 3) -> str:
    more = len(paths) - limit
    return ", ".join(paths[:limit]) + (f" and {more} more" if more > 0 else "")

"""Reading literal declarations out of the project's own Bicep files (no Bicep compiler here).

Only what the tests need: the keys of an object literal and the quoted items of an array literal
declared as `var NAME = {...}` / `[...]` (or a `param NAME type = ...` default). A declaration that
is not found raises, so a renamed block fails the test instead of checking nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

INFRA = Path(__file__).resolve().parents[2] / "infra"
KEY = re.compile(r"^\s*'?([A-Za-z_][A-Za-z0-9_-]*)'?\s*:")
QUOTED = re.compile(r"^\s*'([^']*)'\s*$")
STRING = re.compile(r"'(?:[^'\\]|\\.)*'")


def read(relative: str) -> str:
    return (INFRA / relative).read_text(encoding="utf-8")


def _block(text: str, declaration: str, opening: str) -> list[str]:
    """The lines inside the bracketed literal that follows `declaration` (depth 1 only)."""
    start = re.search(rf"^{re.escape(declaration)}\b[^\n]*?=[ \t]*{re.escape(opening)}[ \t]*$", text, re.M)
    if start is None:
        raise LookupError(f"no `{declaration} = {opening}` block")
    closing = {"{": "}", "[": "]"}[opening]
    depth, lines = 1, []
    for line in text[start.end():].splitlines()[1:]:
        bare = STRING.sub("''", line).split("//", 1)[0]  # brackets in strings and comments do not count
        if depth == 1 and bare.strip() not in ("", closing):
            lines.append(line)
        depth += bare.count("{") + bare.count("[") - bare.count("}") - bare.count("]")
        if depth <= 0:
            return lines
    raise LookupError(f"`{declaration}` block is not closed")


def object_keys(text: str, declaration: str) -> list[str]:
    keys = []
    for line in _block(text, declaration, "{"):
        match = KEY.match(line)
        if match:
            keys.append(match.group(1))
    return keys


def object_entries(text: str, declaration: str) -> dict[str, str]:
    """key -> the value's source text, for one-line entries."""
    entries = {}
    for line in _block(text, declaration, "{"):
        match = KEY.match(line)
        if match:
            entries[match.group(1)] = line[match.end():].strip()
    return entries


def quoted_items(text: str, declaration: str) -> list[str]:
    """The quoted string items of an array literal (identifiers such as a var name are left out)."""
    return [m.group(1) for line in _block(text, declaration, "[") if (m := QUOTED.match(line))]

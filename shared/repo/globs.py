"""Glob lists in gitignore syntax (pathspec), as a driftline.toml's [routing] and routing.toml hold them.

One checker for both: a glob list is a list of non-empty strings, each a pattern pathspec compiles
that can match something (not a comment or a blank line). What passes `glob_list` always compiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class GlobError(ValueError):
    """A glob list is malformed; the message names where and why."""


def glob_list(value: Any, where: str) -> tuple[str, ...]:
    """`value` checked as a glob list (`where` names it in errors, e.g. "[routing] training")."""
    import pathspec

    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise GlobError(f"{where} must be a list of non-empty glob strings.")
    for pattern in value:
        try:
            compiled = pathspec.GitIgnoreSpec.from_lines([pattern])
        except ValueError as error:  # pathspec's pattern errors are ValueErrors
            raise GlobError(f"{where} has a bad glob {pattern!r} ({error}).") from None
        if all(getattr(p, "regex", None) is None for p in compiled.patterns):
            raise GlobError(f"{where} glob {pattern!r} matches nothing (a comment or an empty pattern).")
    return tuple(value)


def compile_globs(patterns: Sequence[str]) -> Any:
    """A pathspec.GitIgnoreSpec of globs `glob_list` accepted."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(patterns))

"""The repository's `requirements.txt` against what the app's Python has installed.

The sandbox runs the repository's code with the app's own interpreter and libraries (nothing is
installed per repository), so a requirement those libraries do not meet is reported up front, as
one sentence naming the package, the range and what is installed:
"the repository needs scikit-learn<1.3 but 1.5.2 is installed".

How the file is read (a strict subset of pip's format):
- each line is a PEP 508 requirement parsed with `packaging`; blank lines, `#` comments and
  backslash continuations are handled as pip does, and per-requirement `--hash` options are ignored;
- markers are evaluated for this Python: a requirement whose marker is false does not apply;
- extras are ignored: only the named distribution's version is compared;
- an installed pre-release counts like any version (what is installed is a fact, not a choice);
- option lines (`-r`, `-c`, `-e`, `--index-url`, ...), direct references (`name @ url`) and lines
  that are not valid requirements are reported as unsupported, never skipped.
A repository without requirements.txt has nothing unmet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

FILE_NAME = "requirements.txt"
COMMENT = re.compile(r"(^|\s+)#.*$")
HASH_OPTION = re.compile(r"\s+--hash[=\s]\S+")


@dataclass(frozen=True)
class Unmet:
    line: int  # where the requirement starts in requirements.txt
    requirement: str  # the requirement as written (comment and options removed)
    installed: str | None  # the installed version; None: not installed, or the line is unsupported
    message: str  # one sentence


def installed_version(name: str) -> str | None:
    """The version of the installed distribution `name` (any spelling of it), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def unmet_requirements(root: Path) -> tuple[Unmet, ...]:
    """The requirements in `root`/requirements.txt the installed libraries do not meet, in file order."""
    path = root / FILE_NAME
    if not path.is_file():
        return ()
    return check_requirements(path.read_text(encoding="utf-8", errors="replace"))


def check_requirements(text: str, installed: Callable[[str], str | None] = installed_version) -> tuple[Unmet, ...]:
    """The requirements in `text` (a requirements.txt) that `installed` versions do not meet."""
    unmet = []
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            unmet.append(Unmet(number, line, None, f"{FILE_NAME} line {number}: {line!r} is an option, which is not "
                                                   "supported: list each requirement in the file itself."))
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            reason = str(error).splitlines()[0]
            unmet.append(Unmet(number, line, None, f"{FILE_NAME} line {number}: {line!r} is not a valid "
                                                   f"requirement ({reason})."))
            continue
        if requirement.url:
            unmet.append(Unmet(number, line, None, f"{FILE_NAME} line {number}: {line!r} is a direct reference, "
                                                   "which is not supported: give a version range instead."))
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = installed(requirement.name)
        needed = f"{requirement.name}{requirement.specifier}"
        if version is None:
            unmet.append(Unmet(number, line, None, f"the repository needs {needed} but it is not installed."))
        elif not requirement.specifier.contains(version, prereleases=True):
            unmet.append(Unmet(number, line, version, f"the repository needs {needed} but {version} is installed."))
    return tuple(unmet)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, content) of each non-empty line, continuations joined, comments and hashes removed."""
    joined, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not joined:
            start = number
        if raw.endswith("\\"):
            joined += raw[:-1]
            continue
        line = HASH_OPTION.sub("", COMMENT.sub("", joined + raw)).strip()
        joined = ""
        if line:
            yield start, line
    line = HASH_OPTION.sub("", COMMENT.sub("", joined)).strip()
    if line:
        yield start, line

"""The test cases of a JUnit XML report, as pytest writes it: the one parser of the repository's
test reports (the test steps count and name failures from it, the run page lists its cases).

Parsed with expat, refusing DOCTYPE and entity declarations (no entity expansion, no external
references), and refusing reports over MAX_JUNIT_BYTES; a report that is not well-formed gives
`JUnitError` with the reason, never a partial list. A case's outcome is the most serious it records:
failed, then error, then skipped, else passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.parsers import expat

from shared.platform.errors import DriftlineError

MAX_JUNIT_BYTES = 32 * 1024 * 1024
MESSAGE_CHARS = 300  # of a failure's message, kept
OUTCOMES = {"failure": "failed", "error": "error", "skipped": "skipped"}  # by seriousness


class JUnitError(DriftlineError):
    """The JUnit XML report is malformed, too large, or declares a DOCTYPE."""


@dataclass(frozen=True)
class Case:
    name: str  # classname::name
    outcome: str  # passed, failed, error, skipped
    seconds: float | None
    message: str = ""  # of its failure or error (or skip), shortened


def cases(data: bytes) -> list[Case]:
    if len(data) > MAX_JUNIT_BYTES:
        raise JUnitError(f"the JUnit report is larger than {MAX_JUNIT_BYTES // (1024 * 1024)} MiB")
    found: list[Case] = []
    current: dict[str, str] | None = None
    seen: dict[str, str] = {}  # outcome tag -> its message

    def refuse(*_: object) -> None:
        raise JUnitError("the JUnit report declares a DOCTYPE or entities, which are refused")

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal current
        if tag == "testcase":
            current = attributes
            seen.clear()
        elif current is not None and tag in OUTCOMES:
            seen.setdefault(tag, attributes.get("message", "")[:MESSAGE_CHARS])

    def end(tag: str) -> None:
        nonlocal current
        if tag != "testcase" or current is None:
            return
        worst = next((t for t in OUTCOMES if t in seen), None)
        classname, name = current.get("classname", ""), current.get("name", "")
        try:
            seconds: float | None = float(current.get("time", ""))
        except ValueError:
            seconds = None
        found.append(Case(f"{classname}::{name}" if classname else name,
                          "passed" if worst is None else OUTCOMES[worst], seconds, "" if worst is None else seen[worst]))
        current = None

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise JUnitError(f"the JUnit report is not well-formed XML ({error})") from None
    return found

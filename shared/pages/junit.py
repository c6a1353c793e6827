"""The test cases of a JUnit XML report (as pytest writes them), for the run page.

Parsed with expat, refusing DOCTYPE and entity declarations as `shared.repo.testrun.read_junit` does;
a report that is not well-formed gives `JUnitError` with the reason, never a partial list.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.parsers import expat

from shared.repo.testrun import MAX_JUNIT_BYTES, JUnitError

MESSAGE_CHARS = 300  # of a failure's message, kept for the page


@dataclass(frozen=True)
class Case:
    name: str  # classname::name
    outcome: str  # passed, failed, error, skipped
    seconds: float | None
    message: str = ""


def cases(data: bytes) -> list[Case]:
    if len(data) > MAX_JUNIT_BYTES:
        raise JUnitError(f"the JUnit report is larger than {MAX_JUNIT_BYTES // (1024 * 1024)} MiB")
    found: list[Case] = []
    current: dict[str, str] | None = None
    outcome, message = "passed", ""

    def refuse(*_: object) -> None:
        raise JUnitError("the JUnit report declares a DOCTYPE or entities, which are refused")

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal current, outcome, message
        if tag == "testcase":
            current, outcome, message = attributes, "passed", ""
        elif current is not None and tag in ("failure", "error", "skipped") and outcome == "passed":
            outcome = {"failure": "failed"}.get(tag, tag)
            message = attributes.get("message", "")[:MESSAGE_CHARS]

    def end(tag: str) -> None:
        nonlocal current
        if tag != "testcase" or current is None:
            return
        classname, name = current.get("classname", ""), current.get("name", "")
        try:
            seconds: float | None = float(current.get("time", ""))
        except ValueError:
            seconds = None
        found.append(Case(f"{classname}::{name}" if classname else name, outcome, seconds, message))
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

"""Request bodies read within limits: size, JSON nesting depth and array length.

`parse_json(body, limits)` is the one way an HTTP body (API or webhook) becomes a Python value:
- a body longer than `limits.max_bytes` is refused (413) before anything reads it;
- the nesting depth is measured on the raw text before `json.loads` runs (strings are blanked, then
  innermost bracket pairs are removed one level per pass, at most `max_depth` passes), so a body
  nested 10,000 deep never reaches the parser's recursion; deeper than `max_depth` is refused (413);
- after parsing, any array longer than `max_items` is refused (413), so a list of 100,000 items is
  turned away before a handler loops over it;
- text that is not JSON (or not UTF-8) is a BadRequest saying what was expected.
Every refusal is a `UserError`, so `functions.answers.respond` answers it as JSON on every route.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from shared.platform.errors import BadRequest, PayloadTooLarge
from shared.platform.settings import Settings

# A JSON string literal (unrolled loop: no backtracking), and every byte that is not a bracket.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass(frozen=True)
class Limits:
    """What one body may hold, and the settings that set each limit (named in refusals)."""

    max_bytes: int
    max_depth: int
    max_items: int
    bytes_setting: str = "DRIFTLINE_MAX_BODY_BYTES"


def check_size(size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise PayloadTooLarge(f"the body is {size} bytes; the limit is {limits.max_bytes} ({limits.bytes_setting}).",
                              limit=limits.max_bytes)


def nesting_depth(body: bytes, stop_after: int) -> int | None:
    """The deepest nesting of arrays and objects in a JSON text, counting at most `stop_after` levels
    (a deeper text answers stop_after + 1); None when the brackets do not balance (not JSON)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    depth = 0
    while brackets:
        if depth > stop_after:
            return depth
        brackets, removed = _PAIR.subn(b"", brackets)
        if not removed:
            return None
        depth += 1
    return depth


def longest_array(value: Any, stop_after: int) -> int:
    """The length of the longest array anywhere in a parsed JSON value (stops early past stop_after)."""
    longest, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            longest = max(longest, len(item))
            if longest > stop_after:
                return longest
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
    return longest


def parse_json(body: bytes, limits: Limits, expected: str) -> Any:
    """The body as JSON within the limits; PayloadTooLarge or BadRequest (naming `expected`) otherwise."""
    check_size(len(body), limits)
    depth = nesting_depth(body, limits.max_depth)
    if depth is None:
        raise BadRequest(f"the body must be JSON: {expected}.")
    if depth > limits.max_depth:
        raise PayloadTooLarge(f"the body nests arrays and objects deeper than {limits.max_depth} levels "
                              "(DRIFTLINE_MAX_JSON_DEPTH).", limit=limits.max_depth)
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadRequest(f"the body must be JSON: {expected}.") from None
    longest = longest_array(value, limits.max_items)
    if longest > limits.max_items:
        raise PayloadTooLarge(f"the body holds an array of more than {limits.max_items} items "
                              "(DRIFTLINE_MAX_JSON_ITEMS): split it into smaller requests.",
                              limit=limits.max_items)
    return value


def api_limits(settings: Settings) -> Limits:
    """The limits of the API's routes (score, feedback, decisions, look-ups)."""
    return Limits(settings.max_body_bytes, settings.max_json_depth, settings.max_json_items)


def webhook_limits(settings: Settings) -> Limits:
    """The limits of the webhook routes: their own size setting (push payloads can be large)."""
    return Limits(settings.webhook_max_bytes, settings.max_json_depth, settings.max_json_items,
                  "DRIFTLINE_WEBHOOK_MAX_BYTES")

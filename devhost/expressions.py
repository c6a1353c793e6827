"""Binding expressions: `%Setting%` (app settings) and `{name}` (trigger data, paths).

- `%Name%` anywhere in a binding property is replaced by the app setting `Name` when the host
  starts; a missing setting is an error naming the function, the property and the setting.
- Blob paths are `container/pattern` where the pattern may hold `{name}` parts: on a trigger they
  capture the matching part of the blob name (the last part may span `/`), on outputs and inputs
  they are filled from trigger data (blob path parts, `queueTrigger`, route parameters, JSON
  properties of the payload) or the built-ins `{rand-guid}` and `{DateTime}`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from devhost.errors import BindingError

_SETTING = re.compile(r"%([^%\s]+)%")
_FIELD = re.compile(r"\{([^{}]+)\}")


def resolve_settings(value: str, env: Mapping[str, str], where: str) -> str:
    """Replace every `%Name%` in `value` by the app setting; BindingError when one is missing."""

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in env:
            raise BindingError(
                f"{where}: app setting '{name}' is not set (referenced as %{name}%); "
                f"add it to local.settings.json Values or the environment."
            )
        return env[name]

    return _SETTING.sub(substitute, value)


def resolve_binding(binding: dict[str, Any], env: Mapping[str, str], where: str) -> dict[str, Any]:
    """A copy of a binding's properties with `%Setting%` resolved in every string value."""
    resolved: dict[str, Any] = {}
    for key, value in binding.items():
        if isinstance(value, str) and key not in ("name", "type", "direction"):
            value = resolve_settings(value, env, f"{where} property '{key}'")
        resolved[key] = value
    return resolved


@dataclass(frozen=True)
class BlobPath:
    """A blob trigger path `container/pattern`, matched against blob names in the container."""

    container: str
    pattern: str
    regex: re.Pattern
    fields: tuple[str, ...]

    @property
    def prefix(self) -> str:
        """The literal part before the first `{`, used as the listing prefix."""
        return self.pattern.split("{", 1)[0]

    @classmethod
    def parse(cls, path: str, where: str) -> "BlobPath":
        path = path.strip().lstrip("/")
        container, _, pattern = path.partition("/")
        if not container or "{" in container:
            raise BindingError(f"{where}: blob path {path!r} must start with a literal container name.")
        fields: list[str] = []
        regex = ""
        position = 0
        for match in _FIELD.finditer(pattern):
            regex += re.escape(pattern[position : match.start()])
            name = match.group(1)
            if not name.isidentifier() or name in fields:
                raise BindingError(f"{where}: blob path {path!r} has a bad or repeated part {{{name}}}.")
            fields.append(name)
            regex += f"(?P<{name}>.+?)" if match.end() < len(pattern) else f"(?P<{name}>.+)"
            position = match.end()
        regex += re.escape(pattern[position:])
        if not pattern:
            regex = ".+"
        return cls(container, pattern, re.compile(f"^{regex}$", re.DOTALL), tuple(fields))

    def match(self, blob_name: str) -> dict[str, str] | None:
        found = self.regex.match(blob_name)
        return None if found is None else found.groupdict()


def fill_template(template: str, data: Mapping[str, Any], where: str) -> str:
    """Fill `{name}` parts from trigger data (case-insensitive, dotted paths into JSON objects)."""
    lowered = {str(k).lower(): v for k, v in data.items()}

    def substitute(match: re.Match) -> str:
        expression = match.group(1).strip()
        key = expression.lower()
        if key in ("rand-guid", "sys.randguid"):
            return str(uuid.uuid4())
        if key in ("datetime", "sys.utcnow"):
            return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
        value: Any = lowered.get(key, _MISSING)
        if value is _MISSING and "." in key:
            head, *rest = expression.split(".")
            value = lowered.get(head.lower(), _MISSING)
            for part in rest:
                if isinstance(value, Mapping):
                    value = {str(k).lower(): v for k, v in value.items()}.get(part.lower(), _MISSING)
                else:
                    value = _MISSING
        if value is _MISSING or value is None or isinstance(value, (dict, list)):
            known = ", ".join(sorted(data)) or "none"
            raise BindingError(f"{where}: no value for {{{expression}}} in {template!r} (trigger data: {known}).")
        return str(value)

    return _FIELD.sub(substitute, template)


_MISSING = object()

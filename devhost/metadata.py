"""The app's functions as the runner sees them, read from the FunctionApp's own binding metadata.

`get_function_json()` is what the Python worker reports to the real host, so the runner uses the
same source: no second list of functions. `%Setting%` expressions are resolved at start.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.errors import BindingError
from devhost.expressions import resolve_binding

TRIGGER_TYPES = ("httpTrigger", "queueTrigger", "blobTrigger", "timerTrigger")
INPUT_TYPES = ("blob",)
OUTPUT_TYPES = ("queue", "blob", "http")

DEFAULT_APP = "function_app:app"

# FunctionApp.get_functions() may be called once per app (a second call fails its duplicate-name
# check), so the built functions are kept per app object for hosts started again in one process.
_BUILT: "weakref.WeakKeyDictionary[Any, list]" = weakref.WeakKeyDictionary()


def import_app(reference: str, directory: Path) -> Any:
    """The FunctionApp at `module:attribute`, imported from the app's directory as the Python worker
    does. By reference, not by an import statement: the runner knows the app only as a FunctionApp."""
    module_name, _, attribute = reference.partition(":")
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    return getattr(importlib.import_module(module_name), attribute or "app")


def app_functions(app: Any) -> list:
    try:
        return _BUILT[app]
    except (KeyError, TypeError):
        pass
    functions = app.get_functions()
    try:
        _BUILT[app] = functions
    except TypeError:
        pass
    return functions


@dataclass
class FunctionSpec:
    name: str
    trigger: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    func: Callable[..., Any]
    parameters: Mapping[str, inspect.Parameter] = field(default_factory=dict)

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]

    @property
    def function_id(self) -> str:
        """The id the host uses in receipts, poison messages and webhooks."""
        return f"Host.Functions.{self.name}"

    def annotation(self, binding_name: str) -> Any:
        parameter = self.parameters.get(binding_name)
        return None if parameter is None else parameter.annotation

    def describe(self, route_prefix: str, base_url: str) -> str:
        t = self.trigger
        kind = t["type"]
        if kind == "httpTrigger":
            methods = ",".join(m.upper() for m in t.get("methods") or []) or "ALL"
            prefix = f"/{route_prefix}" if route_prefix else ""
            return f"[{methods}] {base_url}{prefix}/{t.get('route') or self.name}"
        if kind == "queueTrigger":
            return f"queueTrigger (queue: {t.get('queueName')})"
        if kind == "blobTrigger":
            source = t.get("source") or "LogsAndContainerScan"
            return f"blobTrigger (path: {t.get('path')}, source: {source})"
        if kind == "timerTrigger":
            startup = ", run_on_startup" if t.get("runOnStartup") else ""
            return f"timerTrigger (schedule: {t.get('schedule')!r}{startup})"
        return kind


def load_functions(app: Any, env: Mapping[str, str] | None = None) -> list[FunctionSpec]:
    """Every function of the app with `%Setting%` resolved; raises BindingError on a bad binding.

    A function disabled with the app setting `AzureWebJobs.<name>.Disabled=true` is left out,
    as the real host does.
    """
    env = os.environ if env is None else env
    specs: list[FunctionSpec] = []
    for function in app_functions(app):
        name = function.get_function_name()
        if str(env.get(f"AzureWebJobs.{name}.Disabled", "")).strip().lower() in ("true", "1"):
            continue
        bindings = json.loads(function.get_function_json())["bindings"]
        triggers = [b for b in bindings if b["type"].endswith("Trigger")]
        if len(triggers) != 1:
            raise BindingError(f"Function '{name}': expected one trigger binding, found {len(triggers)}.")
        for binding in bindings:
            direction = binding["direction"].upper()
            supported = TRIGGER_TYPES if binding["type"].endswith("Trigger") else (
                INPUT_TYPES if direction == "IN" else OUTPUT_TYPES
            )
            if binding["type"] not in supported:
                raise BindingError(
                    f"Function '{name}': {direction.lower()} binding '{binding['name']}' of type "
                    f"'{binding['type']}' is not supported by devhost (supported: {', '.join(supported)})."
                )
        resolved = [resolve_binding(b, env, f"Function '{name}' binding '{b['name']}'") for b in bindings]
        trigger = next(b for b in resolved if b["type"].endswith("Trigger"))
        user_function = function.get_user_function()
        specs.append(
            FunctionSpec(
                name=name,
                trigger=trigger,
                inputs=[b for b in resolved if b is not trigger and b["direction"].upper() == "IN"],
                outputs=[b for b in resolved if b["direction"].upper() == "OUT"],
                func=user_function,
                parameters=inspect.signature(user_function).parameters,
            )
        )
    return specs

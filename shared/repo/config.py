"""`driftline.toml`: what the watched repository tells Driftline about itself, read strictly.

```toml
[model]
name = "churn"                          # required; letters, digits, . _ - (model name rule)
target = "label"                        # required: the label column
task = "regression"                     # optional: classification | regression (else DRIFTLINE_TASK)
[training]
entry_point = "training.train:train"    # required: fn(frame, params) -> (estimator, metrics dict)
params = { max_depth = 6 }              # optional table, passed to the entry point
[inference]                             # optional; without it the estimator's predict/predict_proba serve
module = "inference.score"              # predict(model, frame); optional predict_proba(model, frame)
[tests]                                 # optional paths inside the repository
unit = "tests/unit"
integration = "tests/integration"
[routing]                               # optional globs (gitignore syntax): which pushes start which plan
training = ["training/**"]
app = ["inference/**"]
ignore = ["docs/**"]
[data]                                  # optional: what a retrain reads from the dataset
new_columns = ["tenure_days"]           # columns the production model lacks that labeled files may add
max_age_days = 90                       # window: files accepted in the last 90 days (newest always kept)
max_rows = 1000000                      # window: the newest files up to this many rows
```

Guarantees: a `RepoConfig` is only built from a file that passed every check; anything else raises
`RepoConfigError` whose one-sentence message starts with the file name and names the section and key
(`driftline.toml: [training] entry_point must look like 'package.module:function'.`). Unknown sections
and keys are errors, never ignored. Paths are relative, use `/`, and have no `..`; `load_config` also
checks, on the snapshot itself, that they, the entry point's module and the inference module exist
inside the repository (symlinks resolved).
"""

from __future__ import annotations

import keyword
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from shared.platform.errors import DriftlineError
from shared.platform.names import MODEL_NAME
from shared.repo.globs import GlobError, glob_list

FILE_NAME = "driftline.toml"
TASKS = ("classification", "regression")
SECTIONS: dict[str, tuple[str, ...]] = {
    "model": ("name", "target", "task"),
    "training": ("entry_point", "params"),
    "inference": ("module",),
    "tests": ("unit", "integration"),
    "routing": ("training", "app", "ignore"),
    "data": ("new_columns", "max_age_days", "max_rows"),
}


class RepoConfigError(DriftlineError):
    """driftline.toml is missing or malformed; the message names the file, section and key."""


@dataclass(frozen=True)
class ModelSection:
    name: str
    target: str
    task: str | None = None  # classification | regression; None: DRIFTLINE_TASK decides


@dataclass(frozen=True)
class TrainingSection:
    entry_point: str  # "package.module:function"
    params: Mapping[str, Any]  # read-only view of the [training] params table

    @property
    def module(self) -> str:
        return self.entry_point.partition(":")[0]


@dataclass(frozen=True)
class InferenceSection:
    module: str


@dataclass(frozen=True)
class TestsSection:
    __test__ = False  # not a pytest test class

    unit: str | None = None
    integration: str | None = None


@dataclass(frozen=True)
class RoutingSection:
    training: tuple[str, ...] = ()
    app: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataSection:
    new_columns: tuple[str, ...] = ()
    max_age_days: float | None = None
    max_rows: int | None = None


@dataclass(frozen=True)
class RepoConfig:
    model: ModelSection
    training: TrainingSection
    inference: InferenceSection | None  # None: the estimator's own predict/predict_proba serve
    tests: TestsSection
    routing: RoutingSection | None  # None: the app's routing file decides
    data: DataSection = DataSection()  # absent: the settings decide


def parse_config(text: str, source: str = FILE_NAME) -> RepoConfig:
    """The configuration in `text` (the contents of a driftline.toml), checked without a file system."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RepoConfigError(f"{source}: not valid TOML ({error}).") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise RepoConfigError(f"{source}: unknown section [{unknown[0]}]; expected {', '.join(SECTIONS)}.")
    tables = {name: _table(data, name, source) for name in SECTIONS}
    model, training = tables["model"], tables["training"]
    if model is None or training is None:
        raise RepoConfigError(f"{source}: [{'model' if model is None else 'training'}] is required.")
    name = _string(model, "model", "name", source)
    if not MODEL_NAME.fullmatch(name):
        raise RepoConfigError(f"{source}: [model] name {name[:40]!r} is not valid: use letters, digits, '.', "
                              "'_' or '-' (at most 100, starting with a letter or digit).")
    entry_point = _string(training, "training", "entry_point", source)
    module, _, function = entry_point.partition(":")
    if not (_dotted(module) and _dotted(function) and "." not in function):
        raise RepoConfigError(f"{source}: [training] entry_point must look like 'package.module:function'.")
    params = training.get("params", {})
    if not isinstance(params, dict):
        raise RepoConfigError(f"{source}: [training] params must be a table, like params = {{ max_depth = 6 }}.")
    return RepoConfig(
        model=ModelSection(name=name, target=_string(model, "model", "target", source),
                           task=_task(model, source)),
        training=TrainingSection(entry_point=entry_point, params=MappingProxyType(dict(params))),
        inference=_inference(tables["inference"], source),
        tests=_tests(tables["tests"], source),
        routing=_routing(tables["routing"], source),
        data=_data(tables["data"], source),
    )


def load_config(root: Path) -> RepoConfig:
    """The driftline.toml at the root of a snapshot, parsed, with its paths and modules found in it."""
    path = root / FILE_NAME
    if not path.is_file():
        raise RepoConfigError(f"the repository has no {FILE_NAME} at its root: add one with [model] name and "
                              "target and [training] entry_point.")
    if not _inside(root, path):
        raise RepoConfigError(f"{FILE_NAME}: the file is a link to outside the repository.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RepoConfigError(f"{FILE_NAME}: cannot be read ({error}).") from None
    config = parse_config(text, FILE_NAME)
    _check_module(root, config.training.module, "[training] entry_point")
    if config.inference is not None:
        _check_module(root, config.inference.module, "[inference] module")
    for key in ("unit", "integration"):
        relative = getattr(config.tests, key)
        if relative is not None and not (_inside(root, root / relative) and (root / relative).exists()):
            raise RepoConfigError(f"{FILE_NAME}: [tests] {key} names {relative}, which is not in the repository.")
    return config


def _table(data: dict[str, Any], section: str, source: str) -> dict[str, Any] | None:
    table = data.get(section)
    if table is None:
        return None
    if not isinstance(table, dict):
        raise RepoConfigError(f"{source}: [{section}] must be a table.")
    unknown = sorted(set(table) - set(SECTIONS[section]))
    if unknown:
        raise RepoConfigError(f"{source}: unknown key [{section}] {unknown[0]}; expected "
                              f"{', '.join(SECTIONS[section])}.")
    return table


def _string(table: dict[str, Any], section: str, key: str, source: str) -> str:
    value = table.get(key)
    if value is None:
        raise RepoConfigError(f"{source}: [{section}] {key} is required.")
    if not isinstance(value, str) or not value.strip():
        raise RepoConfigError(f"{source}: [{section}] {key} must be a non-empty string.")
    return value


def _task(model: dict[str, Any], source: str) -> str | None:
    if "task" not in model:
        return None
    task = _string(model, "model", "task", source)
    if task not in TASKS:
        raise RepoConfigError(f"{source}: [model] task must be one of {', '.join(TASKS)}, got {task[:40]!r}.")
    return task


def _inference(table: dict[str, Any] | None, source: str) -> InferenceSection | None:
    if table is None:
        return None
    module = _string(table, "inference", "module", source)
    if not _dotted(module):
        raise RepoConfigError(f"{source}: [inference] module must be a module name like 'package.module'.")
    return InferenceSection(module=module)


def _tests(table: dict[str, Any] | None, source: str) -> TestsSection:
    table = table or {}
    paths = {key: _relative_path(_string(table, "tests", key, source), "tests", key, source)
             for key in SECTIONS["tests"] if key in table}
    return TestsSection(**paths)


def _relative_path(value: str, section: str, key: str, source: str) -> str:
    path = PurePosixPath(value)
    if "\\" in value or "\0" in value or path.is_absolute() or ".." in path.parts or value[1:3] == ":/":
        raise RepoConfigError(f"{source}: [{section}] {key} must be a relative path inside the repository, "
                              "with '/' and without '..'.")
    return str(path)


def _routing(table: dict[str, Any] | None, source: str) -> RoutingSection | None:
    if table is None:
        return None
    try:
        globs = {key: glob_list(table.get(key, []), f"{source}: [routing] {key}") for key in SECTIONS["routing"]}
    except GlobError as error:
        raise RepoConfigError(str(error)) from None
    return RoutingSection(**globs)


def _data(table: dict[str, Any] | None, source: str) -> DataSection:
    table = table or {}
    columns = table.get("new_columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) and c.strip() for c in columns):
        raise RepoConfigError(f"{source}: [data] new_columns must be a list of column names.")
    limits: dict[str, Any] = {}
    for key, kind in (("max_age_days", (int, float)), ("max_rows", (int,))):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind) or value <= 0):
            raise RepoConfigError(f"{source}: [data] {key} must be a positive {'integer' if key == 'max_rows' else 'number'}.")
        limits[key] = value
    return DataSection(new_columns=tuple(columns), **limits)


def _dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _check_module(root: Path, module: str, key: str) -> None:
    base = root.joinpath(*module.split("."))
    candidates = (base.with_name(base.name + ".py"), base / "__init__.py")
    if not any(c.is_file() and _inside(root, c) for c in candidates):
        raise RepoConfigError(f"{FILE_NAME}: {key} names module {module}, which is not a file of the repository "
                              f"({module.replace('.', '/')}.py or {module.replace('.', '/')}/__init__.py).")

"""Drift thresholds and profile settings (stdlib only: imported at cold start).

``DriftConfig.from_mapping`` is the one way settings enter from outside (the
app's JSON setting, the CLI's ``--config``); it rejects unknown keys and bad
values with a ``ValueError`` that names the key and what it expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

EFFECTS = ("wasserstein_norm", "psi", "js")
KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class ColumnConfig:
    """Per-column overrides; ``None`` means "use the dataset-wide default"."""

    effect: str | None = None
    threshold: float | None = None
    null_share_delta: float | None = None
    ignore: bool = False


@dataclass(frozen=True)
class DriftConfig:
    """Every threshold of the decision, and the settings a profile is built with.

    Decision: a column drifts when a test's Benjamini-Hochberg adjusted p-value
    is below ``fdr`` *and* its effect size reaches the floor for its effect
    measure, so very large samples do not flag trivial shifts.
    """

    fdr: float = 0.05
    numeric_effect: str = "wasserstein_norm"
    categorical_effect: str = "psi"
    thresholds: Mapping[str, float] = field(
        default_factory=lambda: {"wasserstein_norm": 0.1, "psi": 0.1, "js": 0.1})
    null_share_delta: float = 0.05
    drift_share: float = 0.5
    key_features: tuple[str, ...] = ()
    psi_epsilon: float = 1e-4
    out_of_range_finding: float = 0.01
    columns: Mapping[str, ColumnConfig] = field(default_factory=dict)
    # Profile settings (used when a reference profile is built).
    bins: int = 10
    ks_grid: int = 1000
    top_k: int = 50
    categorical_max_distinct: int = 10
    sample_size: int = 100_000
    seed: int = 0
    batch_bytes: int = 4 << 20       # bytes per counted batch (CSV parsed in blocks of <= 1 MiB, JSON in this size)

    def for_column(self, name: str, kind: str) -> tuple[str, float, float, bool]:
        """(effect measure, effect floor, null-share floor, ignored) for a column."""
        col = self.columns.get(name, ColumnConfig())
        effect = col.effect or (self.numeric_effect if kind == "numeric" else self.categorical_effect)
        if kind != "numeric" and effect == "wasserstein_norm":
            effect = self.categorical_effect
        threshold = col.threshold if col.threshold is not None else self.thresholds[effect]
        null_delta = col.null_share_delta if col.null_share_delta is not None else self.null_share_delta
        return effect, threshold, null_delta, col.ignore

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "columns":
                value = {k: {g.name: getattr(c, g.name) for g in fields(c)} for k, c in value.items()}
            elif f.name == "thresholds":
                value = dict(value)
            elif f.name == "key_features":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "DriftConfig":
        """Validated config from a plain mapping (e.g. parsed JSON)."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError(f"drift config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown drift setting {key!r}; expected one of: {', '.join(sorted(known))}")
            kwargs[key] = _PARSERS[key](key, value)
        config = replace(cls(), **kwargs)
        if "thresholds" in kwargs:
            config = replace(config, thresholds={**cls().thresholds, **kwargs["thresholds"]})
        return config


def _fraction(key: str, value: Any, *, open_low: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < 1 if open_low else 0 <= value <= 1):
        span = "in (0, 1)" if open_low else "in [0, 1]"
        raise ValueError(f"drift setting {key!r} must be a number {span}, got {value!r}")
    return float(value)


def _non_negative(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise ValueError(f"drift setting {key!r} must be a number >= 0, got {value!r}")
    return float(value)


def _int_at_least(minimum: int):
    def parse(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"drift setting {key!r} must be an integer >= {minimum}, got {value!r}")
        return value
    return parse


def _choice(options: tuple[str, ...]):
    def parse(key: str, value: Any) -> str:
        if value not in options:
            raise ValueError(f"drift setting {key!r} must be one of {', '.join(options)}, got {value!r}")
        return value
    return parse


def _thresholds(key: str, value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError(f"drift setting {key!r} must be an object mapping {', '.join(EFFECTS)} to numbers")
    out = {}
    for name, v in value.items():
        if name not in EFFECTS:
            raise ValueError(f"drift setting '{key}.{name}' is unknown; expected one of: {', '.join(EFFECTS)}")
        out[name] = _non_negative(f"{key}.{name}", v)
    return out


def _key_features(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"drift setting {key!r} must be a list of column names, got {value!r}")
    return tuple(value)


def _columns(key: str, value: Any) -> dict[str, ColumnConfig]:
    if not isinstance(value, Mapping):
        raise ValueError(f"drift setting {key!r} must be an object mapping column names to settings")
    out = {}
    allowed = {f.name for f in fields(ColumnConfig)}
    for column, spec in value.items():
        where = f"{key}.{column}"
        if not isinstance(spec, Mapping):
            raise ValueError(f"drift setting {where!r} must be an object with keys: {', '.join(sorted(allowed))}")
        for k in spec:
            if k not in allowed:
                raise ValueError(f"unknown drift setting '{where}.{k}'; expected one of: {', '.join(sorted(allowed))}")
        ignore = spec.get("ignore", False)
        if not isinstance(ignore, bool):
            raise ValueError(f"drift setting '{where}.ignore' must be true or false, got {ignore!r}")
        out[column] = ColumnConfig(
            effect=None if spec.get("effect") is None else _choice(EFFECTS)(f"{where}.effect", spec["effect"]),
            threshold=None if spec.get("threshold") is None else _non_negative(f"{where}.threshold", spec["threshold"]),
            null_share_delta=None if spec.get("null_share_delta") is None
            else _fraction(f"{where}.null_share_delta", spec["null_share_delta"], open_low=False),
            ignore=ignore,
        )
    return out


_PARSERS = {
    "fdr": _fraction,
    "numeric_effect": _choice(EFFECTS),
    "categorical_effect": _choice(("psi", "js")),
    "thresholds": _thresholds,
    "null_share_delta": lambda k, v: _fraction(k, v, open_low=False),
    "drift_share": lambda k, v: _fraction(k, v, open_low=False),
    "key_features": _key_features,
    "psi_epsilon": _fraction,
    "out_of_range_finding": lambda k, v: _fraction(k, v, open_low=False),
    "columns": _columns,
    "bins": _int_at_least(2),
    "ks_grid": _int_at_least(16),
    "top_k": _int_at_least(1),
    "categorical_max_distinct": _int_at_least(0),
    "sample_size": _int_at_least(1000),
    "seed": _int_at_least(0),
    "batch_bytes": _int_at_least(1 << 16),
}

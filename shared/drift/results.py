"""Drift results and their JSON form, the machine contract that triggers retraining.

``decide`` computes these; ``html`` renders them. This module imports neither
(stdlib and ``config`` only), so the statistics and the renderers depend on
the results and never on each other.

Schema ``driftline.drift-report/1``. Consumers rely on ``dataset_drift``,
``share_drifted`` and per-column ``drifted``; fields are only ever added
within a schema version.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .config import DriftConfig

SCHEMA = "driftline.drift-report/1"


@dataclass
class ColumnResult:
    name: str
    kind: str
    tested: bool
    drifted: bool
    reason: str
    test: str | None = None                 # "ks" | "chi2"
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    effect_name: str | None = None
    effect: float | None = None
    threshold: float | None = None
    null_share_reference: float | None = None
    null_share_current: float | None = None
    null_p_value: float | None = None
    null_p_adjusted: float | None = None
    null_share_threshold: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    rows_reference: int = 0
    rows_current: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    chart: dict[str, Any] = field(default_factory=dict)
    key_feature: bool = False

    @property
    def severity(self) -> float:
        """Effect relative to its floor (what the HTML table sorts by)."""
        if self.effect is None or not self.threshold:
            return 0.0
        return self.effect / self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "tested": self.tested, "drifted": self.drifted,
            "reason": self.reason, "key_feature": self.key_feature,
            "test": self.test, "statistic": self.statistic, "p_value": self.p_value, "p_adjusted": self.p_adjusted,
            "effect": {"name": self.effect_name, "value": self.effect, "threshold": self.threshold},
            "null_share": {"reference": self.null_share_reference, "current": self.null_share_current,
                           "p_value": self.null_p_value, "p_adjusted": self.null_p_adjusted,
                           "threshold": self.null_share_threshold},
            "metrics": self.metrics, "rows": {"reference": self.rows_reference, "current": self.rows_current},
            "findings": self.findings, "chart": self.chart,
        }


@dataclass
class DriftResult:
    dataset_drift: bool
    share_drifted: float
    reason: str
    columns: list[ColumnResult]
    rows_reference: int
    rows_current: int
    profile_id: str
    profile_name: str | None
    source_name: str | None
    config: DriftConfig
    findings: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = ""

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values (non-finite floats become null)."""
        cfg = self.config
        return _clean({
            "schema": SCHEMA,
            "created_at": self.created_at,
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "reason": self.reason,
            "drifted_columns": self.drifted_columns,
            "rows": {"reference": self.rows_reference, "current": self.rows_current},
            "profile": {"id": self.profile_id, "name": self.profile_name},
            "source": self.source_name,
            "thresholds": {"fdr": cfg.fdr, "drift_share": cfg.drift_share, "key_features": list(cfg.key_features),
                           "effects": dict(cfg.thresholds), "null_share_delta": cfg.null_share_delta},
            "findings": self.findings + [f for c in self.columns for f in c.findings],
            "columns": [c.to_dict() for c in self.columns],
        })

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False).encode()


def _clean(x: Any) -> Any:
    """JSON has no NaN/inf: non-finite floats become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x

"""The JSON drift report: the machine contract that triggers retraining.

Schema ``driftline.drift-report/1``. Consumers rely on ``dataset_drift``,
``share_drifted`` and per-column ``drifted``; fields are only ever added
within a schema version.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .decide import ColumnResult, DriftResult

SCHEMA = "driftline.drift-report/1"


def _clean(x: Any) -> Any:
    """JSON has no NaN/inf: non-finite floats become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def column_dict(c: "ColumnResult") -> dict[str, Any]:
    return {
        "name": c.name, "kind": c.kind, "tested": c.tested, "drifted": c.drifted, "reason": c.reason,
        "key_feature": c.key_feature,
        "test": c.test, "statistic": c.statistic, "p_value": c.p_value, "p_adjusted": c.p_adjusted,
        "effect": {"name": c.effect_name, "value": c.effect, "threshold": c.threshold},
        "null_share": {"reference": c.null_share_reference, "current": c.null_share_current,
                       "p_value": c.null_p_value, "p_adjusted": c.null_p_adjusted,
                       "threshold": c.null_share_threshold},
        "metrics": c.metrics, "rows": {"reference": c.rows_reference, "current": c.rows_current},
        "findings": c.findings, "chart": c.chart,
    }


def report_dict(r: "DriftResult") -> dict[str, Any]:
    cfg = r.config
    return _clean({
        "schema": SCHEMA,
        "created_at": r.created_at,
        "dataset_drift": r.dataset_drift,
        "share_drifted": r.share_drifted,
        "reason": r.reason,
        "drifted_columns": r.drifted_columns,
        "rows": {"reference": r.rows_reference, "current": r.rows_current},
        "profile": {"id": r.profile_id, "name": r.profile_name},
        "source": r.source_name,
        "thresholds": {"fdr": cfg.fdr, "drift_share": cfg.drift_share, "key_features": list(cfg.key_features),
                       "effects": dict(cfg.thresholds), "null_share_delta": cfg.null_share_delta},
        "findings": r.findings + [f for c in r.columns for f in c.findings],
        "columns": [column_dict(c) for c in r.columns],
    })


def report_json(r: "DriftResult") -> bytes:
    return json.dumps(report_dict(r), indent=1, allow_nan=False).encode()

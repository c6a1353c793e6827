"""Driftline's drift engine: reference profiles, drift statistics and reports.

Importing this package is cheap (stdlib only): numpy, scipy and pyarrow load
on first use, which keeps the function app's cold start fast.

    profile = build_profile(training_df, name="model-v3")
    blob = profile.to_json()
    result = compare(Profile.from_json(blob), "upload.csv")
    if result.dataset_drift: ...
    html = render_html(result)

For an upload split across workers: ``observe(profile, part)`` on each part,
``Observed.merge`` the counts (exact), then ``decide_observed(profile, merged)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .config import ColumnConfig, DriftConfig
from .errors import UnreadableData

if TYPE_CHECKING:
    from .counts import Observed
    from .profile import Profile
    from .results import DriftResult

__all__ = ["build_profile", "compare", "observe", "decide_observed", "render_html",
           "Profile", "DriftResult", "Observed", "DriftConfig", "ColumnConfig", "UnreadableData"]

_LAZY = {"Profile": ".profile", "DriftResult": ".results", "Observed": ".counts"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_profile(source: Any, *, name: str | None = None, schema: Mapping[str, str] | None = None,
                  config: DriftConfig | None = None) -> "Profile":
    """Reference profile from a path, binary file-like (give ``name`` for its format),
    pandas DataFrame, Arrow Table or iterator of RecordBatches.

    ``schema`` maps column names to "numeric", "categorical" or "ignore" and
    wins over inference. Raises ``UnreadableData`` when the data cannot be parsed.
    """
    from .profile import build

    return build(source, name=name, schema=schema, config=config)


def observe(profile: "Profile", source: Any, *, name: str | None = None,
            config: DriftConfig | None = None) -> "Observed":
    """Count ``source`` into the profile's bins (mergeable across partitions)."""
    from .counts import Counter
    from .read import open_source

    cfg = config or DriftConfig()
    with open_source(source, name=name) as src:
        counter = Counter(profile.id, profile.columns)
        for batch in src.batches(kinds=profile.read_kinds(), columns=list(profile.columns),
                                 block_size=cfg.batch_bytes):
            counter.add(batch)
        observed = counter.observed
        observed.new_columns |= src.state.skipped_columns
        observed.malformed_rows += src.state.malformed_rows
    return observed


def decide_observed(profile: "Profile", observed: "Observed", *, config: DriftConfig | None = None,
           source_name: str | None = None) -> "DriftResult":
    """Drift verdict from counts made by ``observe`` (possibly merged)."""
    from .decide import decide as _decide

    return _decide(profile, observed, config, source_name)


def compare(profile: "Profile", source: Any, *, name: str | None = None,
            config: DriftConfig | None = None) -> "DriftResult":
    """Does the data in ``source`` drift from ``profile``? Raises ``UnreadableData`` if it cannot be parsed."""
    observed = observe(profile, source, name=name, config=config)
    return decide_observed(profile, observed, config=config, source_name=name or _source_name(source))


def render_html(result: "DriftResult") -> str:
    """Self-contained HTML page for a drift result."""
    from .html import render_html as _render

    return _render(result)


def _source_name(source: Any) -> str | None:
    import os

    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.fspath(source))
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else None

"""Every setting checked when the app starts, including those the platform layer cannot judge alone.

`check(env)` is `load_settings` (every typed setting) plus what needs a package above `platform`:
`DRIFTLINE_DRIFT_CONFIG` through the drift engine's own `DriftConfig.from_mapping`, a way to
authenticate approvers when approval is required (shared/chain/approvers.py). The timer schedules the
host binds as `%DRIFTLINE_*_SCHEDULE%` are checked by `load_settings` itself (six NCRONTAB fields:
Flex Consumption takes no hh:mm:ss interval). The first bad value raises `SettingsError` naming the
setting and the form expected.

Who calls it:
- `./driftline start` (devtools/start.py) before it starts anything: a bad value stops it, printed;
- `function_app.py` at import (`functions.startup.check_at_indexing`), so the Functions host's start
  log in Azure (Application Insights) names the bad setting at ERROR before any invocation fails.
It stays light: `shared.drift`'s package and config modules use the standard library only
(tests/test_cold_start.py keeps the heavy libraries out of the import).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from shared.drift.config import DriftConfig
from shared.platform.errors import SettingsError
from shared.platform.settings import Settings, load_settings

def check(env: Mapping[str, str] | None = None) -> Settings:
    """The validated settings; SettingsError naming the first bad one."""
    env = os.environ if env is None else env
    settings = load_settings(env)
    try:
        DriftConfig.from_mapping(settings.drift_config)
    except ValueError as error:
        raise SettingsError(f"DRIFTLINE_DRIFT_CONFIG is not a valid drift configuration: {error} "
                            "(see docs/drift.md).") from None
    if settings.approval_required and not (settings.trust_app_service_auth or settings.approval_secret):
        raise SettingsError("DRIFTLINE_APPROVAL_REQUIRED=true needs a way to authenticate approvers: "
                            "DRIFTLINE_TRUST_APP_SERVICE_AUTH=true (App Service authentication on) or "
                            "DRIFTLINE_APPROVAL_SECRET with DRIFTLINE_APPROVERS (signed approval links).")
    if settings.approval_secret and not settings.approvers:
        raise SettingsError("DRIFTLINE_APPROVAL_SECRET signs one approval link per approver: list them in "
                            "DRIFTLINE_APPROVERS (comma-separated names or object ids).")
    return settings

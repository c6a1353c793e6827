"""The settings check at indexing: `function_app.py` calls `check_at_indexing()` once, at import.

A bad setting is logged at ERROR naming it and the form expected (the Functions host's start log in
Azure), and the app still indexes: its functions answer, and each invocation fails with the same
message (HTTP routes with a JSON 500 that says the settings are invalid), rather than a host that
cannot index at all and shows no function. `./driftline start` refuses to start instead
(devtools/start.py). Only the light settings and drift-config modules load here (see
shared/jobs/startup.py and tests/test_cold_start.py).
"""

import logging

log = logging.getLogger("functions")


def check_at_indexing() -> str | None:
    """Check every setting; returns the problem (also logged at ERROR), or None when all are valid."""
    from shared.jobs import startup
    from shared.platform.errors import SettingsError

    try:
        startup.check()
    except SettingsError as error:
        log.error("Driftline settings are invalid, every function will fail until this is fixed: %s", error)
        return str(error)
    return None

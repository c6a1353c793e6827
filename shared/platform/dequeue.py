"""How often the Functions host delivers a queue message before it gives up on it.

The host retries a message whose function raised, and after `maxDequeueCount` failed deliveries
(host.json `extensions.queues`, 5 by default; an app setting
`AzureFunctionsJobHost__extensions__queues__maxDequeueCount` overrides it, as in Azure) copies the
text unchanged to `<queue>-poison`, with no reason. So a trigger that sees its message's last
delivery fail poisons it itself, with the reason (recorded on its run when it names one), and
returns normally: the host then deletes the message, and the poison queue holds one entry that says
why. `last_attempt` is how a trigger knows; a message without a dequeue count (not from the host) is
never the last, so its error propagates.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"
OVERRIDE = "AzureFunctionsJobHost__extensions__queues__maxDequeueCount"
DEFAULT = 5  # the host's own default


@functools.cache
def max_dequeue_count() -> int:
    """The app setting override, else host.json's value, else the host's default (read once)."""
    override = os.environ.get(OVERRIDE, "").strip()
    if override.isdigit() and int(override) >= 1:
        return int(override)
    try:
        queues = json.loads(HOST_JSON.read_text()).get("extensions", {}).get("queues", {})
        return max(1, int(queues.get("maxDequeueCount", DEFAULT)))
    except (OSError, ValueError, TypeError, AttributeError):
        return DEFAULT


def last_attempt(dequeue_count: int | None) -> bool:
    """True when the host poisons this message if the delivery fails."""
    return dequeue_count is not None and dequeue_count >= max_dequeue_count()

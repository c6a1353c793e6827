"""What `GET /api/health` reports: whether storage answers, what serves per model, the queue backlog.

Storage that cannot be reached answers 503 with the error (the app can do nothing without it); else
200 with, per model, the production, previous and canary versions, and per queue (and its poison
queue) the approximate number of messages waiting, delayed ones included, as Azure counts them.
"""

from __future__ import annotations

import logging

from shared.model import registry
from shared.platform import names
from shared.platform.errors import Answer
from shared.platform.settings import Settings
from shared.platform.storage import Storage
from shared.serving.lookups import serving_of

log = logging.getLogger(__name__)


def report(storage: Storage, settings: Settings) -> Answer:
    try:
        models = sorted(set(registry.model_names(storage)) | {settings.model_name})
        serving = {model: serving_of(registry.aliases(storage, model)[0]["aliases"]) for model in models}
        queues = {queue: storage.approximate_message_count(queue)
                  for name in names.QUEUES for queue in (name, f"{name}-poison")}
    except Exception as error:  # any failure to reach storage is the answer, not a 500
        log.warning("health: storage is unreachable: %s", error)
        return Answer(503, {"status": "unavailable",
                            "storage": {"reachable": False, "error": f"{type(error).__name__}: {error}"[:500]}})
    return Answer(200, {"status": "ok", "storage": {"reachable": True}, "models": serving, "queues": queues})

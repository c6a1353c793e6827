"""Fixed names of containers and queues, shared by trigger bindings and the core, and the rule for
model names (they become storage paths).

Queue and blob trigger bindings must name these literally, so they are constants, not settings.
"""

import re

from shared.platform.errors import BadRequest

DATALAKE = "datalake"
MODELS = "models"
REPORTS = "reports"
RUNS = "runs"
HOOKS = "hooks"  # webhook delivery records (de-duplication), CI-wait index, upload receipts
CODE = "code"  # snapshots of the watched repository: <repository key>/<commit>.tar.gz and .manifest.json

LABELED_PREFIX = "labeled/"
INCOMING_PREFIX = "incoming/"
QUARANTINE_PREFIX = "quarantine/"
SCORING_LOG_PREFIX = "scoring-log/"

FETCH_QUEUE = "fetch"
UNIT_TEST_QUEUE = "unit-test"
RETRAIN_QUEUE = "retrain"
REGISTER_QUEUE = "register"
TEST_QUEUE = "test"
DEPLOY_QUEUE = "deploy"
NOTIFY_QUEUE = "notify"
PUSH_QUEUE = "push"

QUEUES = (FETCH_QUEUE, UNIT_TEST_QUEUE, RETRAIN_QUEUE, REGISTER_QUEUE, TEST_QUEUE, DEPLOY_QUEUE, NOTIFY_QUEUE, PUSH_QUEUE)

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_model_name(model: object) -> str:
    """The model name, checked before any storage path is built from it."""
    if not isinstance(model, str) or not MODEL_NAME.match(model):
        raise BadRequest(f"model name {str(model)[:40]!r} is not valid: use letters, digits, '.', '_' or '-' "
                         "(at most 100, starting with a letter or digit).")
    return model

"""Fixed names of containers and queues, shared by trigger bindings and the core.

Queue and blob trigger bindings must name these literally, so they are constants, not settings.
"""

DATALAKE = "datalake"
MODELS = "models"
REPORTS = "reports"
RUNS = "runs"
HOOKS = "hooks"  # webhook delivery records (de-duplication), CI-wait index, upload receipts

LABELED_PREFIX = "labeled/"
INCOMING_PREFIX = "incoming/"
QUARANTINE_PREFIX = "quarantine/"
SCORING_LOG_PREFIX = "scoring-log/"

RETRAIN_QUEUE = "retrain"
REGISTER_QUEUE = "register"
TEST_QUEUE = "test"
DEPLOY_QUEUE = "deploy"
NOTIFY_QUEUE = "notify"
PUSH_QUEUE = "push"

CONTAINERS = (DATALAKE, MODELS, REPORTS, RUNS, HOOKS)
QUEUES = (RETRAIN_QUEUE, REGISTER_QUEUE, TEST_QUEUE, DEPLOY_QUEUE, NOTIFY_QUEUE, PUSH_QUEUE)

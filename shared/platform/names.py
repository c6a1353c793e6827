"""Fixed names of containers and queues, shared by trigger bindings and the core, the rule for
model names (they become storage paths), and the rule for lake blob names the app will handle.

Queue and blob trigger bindings must name these literally, so they are constants, not settings.
"""

import re
import unicodedata

from shared.platform.errors import BadRequest

DATALAKE = "datalake"
MODELS = "models"
REPORTS = "reports"
RUNS = "runs"
HOOKS = "hooks"  # webhook delivery records (de-duplication), CI-wait index, upload receipts
CODE = "code"  # snapshots of the watched repository: <repository key>/<commit>.tar.gz and .manifest.json

LABELED_PREFIX = "labeled/"
FEEDBACK_PREFIX = f"{LABELED_PREFIX}feedback/"  # labeled rows /api/feedback writes
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


# Azure refuses blob names past 1,024 characters; the quarantine copy of a lake file and its reason
# record add `quarantine/` and `.reason.json` (23), so a lake name of 1,000 characters or more is refused.
MAX_BLOB_NAME = 1024
MAX_LAKE_NAME = 999


def lake_name_problem(name: str) -> str | None:
    """Why a lake blob name cannot be handled as a path, or None when it can.

    Storage accepts names a path cannot hold: dot or empty segments (`labeled/../x.csv`, which HTTP
    clients and servers normalize to another blob), control characters (which XML listings cannot
    carry), backslashes (Azure turns them into `/`), a trailing dot, and names too long to be
    quarantined next to their reason."""
    if len(name) > MAX_LAKE_NAME:
        return (f"the name is {len(name)} characters; lake names may have at most {MAX_LAKE_NAME} "
                f"(Azure's limit of {MAX_BLOB_NAME}, less room for the quarantine copy and its reason)")
    controls = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in ("Cc", "Cs")})
    if controls:
        return f"the name holds control characters ({', '.join(controls[:5])})"
    if "\\" in name:
        return "the name holds a backslash, which Azure storage turns into '/'"
    segments = name.split("/")
    if any(segment in (".", "..") for segment in segments):
        return "the name has a '.' or '..' segment, which a path resolves to another blob"
    if any(segment == "" for segment in segments):
        return "the name has an empty segment ('//' or a trailing '/')"
    if name.endswith("."):
        return "the name ends with a dot, which Azure storage drops"
    return None

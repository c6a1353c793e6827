"""The chain's order, declared once: which steps a run does, and which queue carries each step.

- `full`: a change to training code or new labeled data or drift: retrain, register, test, approve,
  deploy. (Unit tests run in the repository's CI; with DRIFTLINE_WAIT_FOR_CI the run starts only
  after CI passed on that commit.)
- `app`: a change to app or inference code: test the current production model with the new code,
  approve, deploy.

`approve` has no queue: it is a state on the run; the approve call (or the test step, when approval
is not required) enqueues `deploy`.
"""

from __future__ import annotations

from shared.platform import names

PLANS: dict[str, tuple[str, ...]] = {
    "full": ("retrain", "register", "test", "approve", "deploy"),
    "app": ("test", "approve", "deploy"),
}

QUEUE_FOR_STEP: dict[str, str | None] = {
    "retrain": names.RETRAIN_QUEUE,
    "register": names.REGISTER_QUEUE,
    "test": names.TEST_QUEUE,
    "approve": None,
    "deploy": names.DEPLOY_QUEUE,
}


def next_step(plan: str, step: str) -> str | None:
    steps = PLANS[plan]
    position = steps.index(step)
    return steps[position + 1] if position + 1 < len(steps) else None


def first_step(plan: str) -> str:
    return PLANS[plan][0]

"""The chain's order, declared once: which steps a run does, and which queue carries each step.

- `training`: a push that changed training code: fetch the commit's snapshot, run the repository's
  unit tests, retrain from the snapshot, register, test (gates and the repository's integration tests),
  approve, deploy.
- `app`: a push that changed app or inference code: fetch, unit tests, test, approve, deploy.
- `data`: new labeled data, drift, a schedule: fetch the code of the release now in production (or the
  branch tip when nothing serves; or nothing, with no code source: the built-in model trains), then
  retrain, register, test, approve, deploy.

`approve` has no queue: it is a state on the run; the approve call (or the test step, when approval
is not required) enqueues `deploy`.
"""

from __future__ import annotations

from shared.platform import names

PLANS: dict[str, tuple[str, ...]] = {
    "training": ("fetch", "unit_test", "retrain", "register", "test", "approve", "deploy"),
    "app": ("fetch", "unit_test", "test", "approve", "deploy"),
    "data": ("fetch", "retrain", "register", "test", "approve", "deploy"),
}

QUEUE_FOR_STEP: dict[str, str | None] = {
    "fetch": names.FETCH_QUEUE,
    "unit_test": names.UNIT_TEST_QUEUE,
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

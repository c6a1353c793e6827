"""The timers' work: scheduled drift and retrain, the sweeper, retention. Each job is idempotent for one
firing and reports a `JobOutcome`.

May import every other package of `shared`.
"""

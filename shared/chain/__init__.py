"""Runs and their steps: plans, run state and its enums, the step adapter, approvals, notifications.

Knows how a run moves from step to step, not what any step does. May import: `shared.platform`.
"""

"""Serving: scoring with a per-instance model cache, the scoring log, feedback, read-only look-ups.

May import: `shared.platform`, `shared.drift`, `shared.chain`, `shared.model`.
"""

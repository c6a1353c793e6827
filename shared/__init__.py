"""Driftline's functional core, one package per capability, lowest layer first:
platform, drift, repo, chain, model, serving, events, jobs, pages (see docs/architecture.md).

A package imports only from the packages below it; tests/test_layering.py enforces it. Package
`__init__` files import nothing, so importing a module loads only what it needs (cold start).
"""

"""Thin triggers, one blueprint per event source: parse the binding, call the core, emit messages.

Only azure.functions and light modules are imported at module top (cold start); heavy libraries
load inside the core functions that need them.
"""

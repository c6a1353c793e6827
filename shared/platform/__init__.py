"""What every capability stands on: settings, names, the Storage contract and its two implementations,
the per-process context, the clock, the error hierarchy, the message envelope, signatures, and the
host's delivery budget for queue messages (`dequeue`).

Imports nothing else from `shared`. `names`, `settings` and `errors` are also imported by the triggers
at indexing, so they import only the standard library.
"""

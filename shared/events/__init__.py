"""What comes in and what it starts: webhook payloads and intake, routing of changed paths, waiting for
CI, lake uploads (drift checks and retrains) and quarantine.

May import: `shared.platform`, `shared.drift`, `shared.chain`, `shared.model`, `shared.serving`.
"""

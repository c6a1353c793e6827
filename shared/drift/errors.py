"""Exceptions shared by the drift engine (stdlib only: imported at cold start)."""


class UnreadableData(Exception):
    """The input cannot be parsed at all; callers quarantine the file.

    ``reason`` is one sentence saying what was wrong, fit for a log line or a
    quarantine note.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

"""The life cycle the host drives in every trigger listener (queue, blob, timer).

HTTP triggers are not listeners: devhost.http serves them all from one server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from devhost.metadata import FunctionSpec


class Listener(Protocol):
    spec: FunctionSpec

    def start(self) -> None:
        """Begin polling, scanning or scheduling."""

    def stop(self) -> None:
        """Take no new work; invocations in flight go on (the host drains them)."""

    def close(self, timeout: float) -> None:
        """After the drain: give back work whose function did not finish, join the threads."""

    def wake(self) -> None:
        """Poll or scan now instead of after the current back-off."""

    def quiet_since(self, moment: float) -> bool:
        """Nothing running or pending, as seen by a poll or scan that began after `moment`."""

    def busy_reason(self) -> str:
        """What keeps this listener from being quiet, for wait_idle's TimeoutError."""

    def run_once(self, text: str) -> bool:
        """Run the function once in the background (admin API): `text` is the queue message or
        `container/blob`; False when there is nothing to run."""

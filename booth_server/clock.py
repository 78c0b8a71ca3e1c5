"""The server's one source of "now".

Normally the wall clock. With ``--clock-start`` the clock starts at a chosen instant and runs
forward in real time, so that demos and acceptance runs can live through a DST week or a session
start without waiting for the calendar.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("the clock start must be an instant with a UTC offset")
        self._offset = timedelta(0)
        if start is not None:
            self._offset = start - datetime.now(UTC)
        self.shifted = start is not None
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        offset = self._offset
        # Every relayed signal asks: the wall clock's unshifted instant needs no addition.
        return datetime.now(UTC) + offset if offset else datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward (tests and demos); real time keeps running from there."""
        self._offset += delta
        self.shifted = True
        for listener in list(self._listeners):
            listener()

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every :meth:`advance`, so timers sleeping on this clock wake up
        at once instead of at their old deadline. Returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

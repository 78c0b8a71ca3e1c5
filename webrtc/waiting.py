"""Waiting for an event with a time limit, in a task that may be cancelled while it waits.

``asyncio.wait_for(event.wait(), timeout)`` is the obvious way, and on Python 3.11 it can
swallow a cancellation: when the event is set in the same loop turn as the task is cancelled,
``wait_for`` returns normally and the cancellation is lost (fixed in 3.12, where ``wait_for``
is built on ``asyncio.timeout``). A loop that waits like that every turn then never ends, and
whoever awaits the cancelled task (a server shutting down) waits forever.
"""

from __future__ import annotations

import asyncio


async def wait_set(event: asyncio.Event, within: float | None) -> bool:
    """Wait until ``event`` is set (True) or ``within`` seconds have passed (False)."""
    try:
        async with asyncio.timeout(within):
            await event.wait()
    except TimeoutError:
        return False
    return True

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


async def cancel_and_wait(task: asyncio.Task[None], every: float = 1.0) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again every ``every`` seconds.

    One ``cancel()`` is not always enough: redis-py reads with its own socket timeout, and a
    cancellation that lands as that timeout fires comes out as redis's ``TimeoutError``, which a
    loop that survives Redis being slow catches and carries on from. Whatever the task raises
    as it ends is not this caller's business (the task logged it)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled():
        task.exception()  # retrieved, so that asyncio does not report it as never retrieved

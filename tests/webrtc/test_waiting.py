"""``wait_set``: an event or a time limit, and a cancellation that is never lost."""

from __future__ import annotations

import asyncio

from webrtc.waiting import wait_set


async def test_it_says_whether_the_event_came_or_the_time_ran_out() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_set(event, 5) is True


async def test_a_cancel_in_the_same_loop_turn_as_the_event_ends_the_waiting_loop() -> None:
    """The server's background loops wait like this every turn; a shutdown cancels them while
    something sets the event. (``asyncio.wait_for`` on Python 3.11 returned normally here, the
    loop went on waiting, and the shutdown hung.)"""
    event = asyncio.Event()
    turns = 0

    async def background_loop() -> None:
        nonlocal turns
        while True:
            event.clear()
            await wait_set(event, 60)
            turns += 1

    task = asyncio.ensure_future(background_loop())
    await asyncio.sleep(0)  # the loop is waiting
    event.set()
    task.cancel()
    await asyncio.wait([task], timeout=5)
    assert task.cancelled()
    assert turns == 0

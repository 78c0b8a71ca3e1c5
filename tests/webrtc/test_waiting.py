"""``wait_set``: an event or a time limit, and a cancellation that is never lost."""

from __future__ import annotations

import asyncio

from webrtc.waiting import cancel_and_wait, wait_set


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


async def test_a_task_that_takes_its_first_cancellation_for_a_timeout_is_cancelled_again() -> None:
    """A Redis loop whose cancellation came out of redis-py as a read timeout carries on, as it
    does when Redis is slow; stopping it must still end it (a node's shutdown hung on one)."""
    turns = 0

    async def redis_loop() -> None:
        nonlocal turns
        while True:
            try:
                await asyncio.sleep(60)  # a read from Redis
            except asyncio.CancelledError:
                if turns == 0:  # what redis-py turned into its TimeoutError, caught as slowness
                    turns += 1
                    continue
                raise

    task = asyncio.ensure_future(redis_loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, every=0.05), 5)
    assert task.cancelled() and turns == 1


async def test_a_task_that_ends_on_its_own_error_is_waited_for_quietly() -> None:
    async def failing() -> None:
        raise RuntimeError("Redis went away")

    task = asyncio.ensure_future(failing())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert isinstance(task.exception(), RuntimeError)

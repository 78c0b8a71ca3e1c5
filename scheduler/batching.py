"""Many concurrent lookups answered by one query per batch.

When thousands of booths connect at once (a restart, a node lost behind the load balancer),
each one's ``hello`` needs its device key and then its schedule. One query per booth costs a
round trip through the database driver each (aiosqlite: a thread hop); one query for every
booth that is waiting costs one. :class:`Batched` does that without any caller knowing: the keys
asked for while a query runs wait together and go in the next one. A single lookup still goes at
once (one loop turn later). Nothing is cached: every answer comes from a query made after it
was asked for, so a revoked key or a changed booking is seen as without batching, on every node.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batched(Generic[K, V]):
    """``await get(key)``: the value ``load`` gives for ``key`` (None when it gives none).

    ``load`` gets at most ``max_batch`` distinct keys and returns what it found, by key. Batches
    run one after the other, in the order their keys were asked for.
    """

    def __init__(self, load: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]], max_batch: int = 500) -> None:
        self._load = load
        self.max_batch = max_batch
        self._waiting: dict[K, asyncio.Future[V | None]] = {}
        self._runner: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        future = self._waiting.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[key] = future
            if self._runner is None:
                self._runner = asyncio.ensure_future(self._run())
        # Shielded: several callers may share the future, and one of them giving up (a socket
        # that closed) must not cancel the answer for the others.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the callers of this loop turn join the batch
                keys = list(itertools.islice(self._waiting, self.max_batch))
                futures = [self._waiting.pop(key) for key in keys]
                try:
                    found = await self._load(keys)
                except Exception as exc:
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # marked as seen: a caller that left cannot see it
                    continue
                for key, future in zip(keys, futures, strict=True):
                    if not future.done():
                        future.set_result(found.get(key))
        finally:
            self._runner = None

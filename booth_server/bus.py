"""How the signalling core's appends and messages travel: the bus of one node.

:class:`Bus` is what :class:`~booth_server.node.SignallingNode` needs from it. Two
implementations: :class:`InProcessBus` for the embedded default (one process; the core is its
own log, and this bus writes the log behind it to the database so that a restart rebuilds the
rooms), and ``booth_server.redis_bus.RedisBus`` for several nodes.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scheduler.room_logs import RoomLogs
from webrtc.core import PresenceChanged
from webrtc.limits import SEQ_EPOCH_SPAN
from webrtc.log import decode_entry, encode_entry
from webrtc.messages import CloseReason

if TYPE_CHECKING:
    from .node import BoothPresence, SignallingNode

log = logging.getLogger(__name__)


class Bus(abc.ABC):
    #: True when several nodes share the log: the core then waits for its entries to come back.
    shared: bool = False

    @abc.abstractmethod
    async def start(self, node: SignallingNode) -> None:
        """Rebuild what the bus kept for this node's core, and start carrying."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Write or send everything still on its way, then stop."""

    @abc.abstractmethod
    def append(self, booking: int, entry: dict[str, Any], if_open: bool) -> None:
        """Append to a room's log, in the order of the calls."""

    @abc.abstractmethod
    def broadcast(self, kind: str, data: dict[str, Any]) -> None:
        """Tell every other node."""

    @abc.abstractmethod
    def follow(self, booking: int, follow: bool) -> None:
        """Start or stop handing this room's entries to the node."""

    @abc.abstractmethod
    async def load(self, booking: int) -> None:
        """Make sure the node's core has the replica of this room, if its log exists."""

    @abc.abstractmethod
    def member_changed(self, booth: int, booking: int | None) -> None:
        """Remember which room a booth is in, for a resume on another node."""

    @abc.abstractmethod
    async def member_of(self, booth: int) -> int | None:
        """The room a booth was last in, for its resume."""

    @abc.abstractmethod
    def presence_changed(self, presence: PresenceChanged) -> None:
        """A booth connected here changed state."""

    @abc.abstractmethod
    async def presence(self, booth_ids: Sequence[int]) -> list[BoothPresence]:
        """Where each booth is, on whichever node."""


class InProcessBus(Bus):
    """One process: the core applies its own appends; the log is written to the database behind
    the event loop, and read back at start.

    The entries (joins, drops, resumes, timers: who is in a room and with which resume token)
    are written at once. Signals, a call's traffic, are no entries here: the core relays them
    in memory, and a graceful stop appends each live room's history instead (the core's
    ``kept`` entry: every booth's numbering and kept messages), then marks its epoch clean. A
    start that finds the last epoch unclean (the process was killed) knows that the signals
    since the last ``kept`` entry are missing: the rooms are rebuilt from what was written,
    their numbering jumps past anything a booth may have seen, and a booth that resumes is told
    to resynchronise (docs/protocol.md, Resume).
    """

    def __init__(self, logs: RoomLogs | None) -> None:
        self.logs = logs
        self._node: SignallingNode | None = None
        self._positions: dict[int, int] = {}
        self._pending: list[tuple[int, int, str]] = []
        self._finished: set[int] = set()
        self._epoch: int | None = None
        self._writer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    async def start(self, node: SignallingNode) -> None:
        self._node = node
        if self.logs is None:
            return
        now = node.clock.now()
        self._epoch, base, crashed = await self.logs.start_epoch(now, SEQ_EPOCH_SPAN)
        rows = await self.logs.load()
        core = node.core
        for booking, position, text in rows:
            core.apply(booking, decode_entry(text))
            self._positions[booking] = position
        core.take_actions()  # a replay: nobody is connected yet to be told anything
        self._finished = {b for b in self._positions if core.room(b) is None and not self._moved(b)}
        core.seq_base = base
        if crashed:
            log.warning(
                "signalling: the last run stopped without a clean shutdown; %d live rooms number on from %d",
                len(core.rooms),
                base,
            )
            core.restarted(base, now)
            node.flush()
        log.info("signalling: %d live rooms rebuilt from %d log entries", len(core.rooms), len(rows))
        self._writer = asyncio.create_task(self._write_behind())

    async def stop(self) -> None:
        if self._writer is not None:
            # Not cancelled: a batch on its way to the database must land, not vanish.
            self._stopping = True
            self._wake.set()
            await self._writer
        if self.logs is not None and self._epoch is not None and self._node is not None:
            core, now = self._node.core, self._node.clock.now()
            for booking in list(core.rooms):
                kept = core.kept_entry(booking, now)
                if kept is not None:
                    self.append(booking, kept, False)
            try:
                await self._write()
                await self.logs.end_epoch(self._epoch)
            except Exception:
                # The next start finds this epoch unclean and resynchronises the booths: safe.
                log.exception("signalling: could not write the room logs at shutdown")

    def broadcast(self, kind: str, data: dict[str, Any]) -> None:
        pass  # no other node

    async def load(self, booking: int) -> None:
        pass  # the core holds every room

    def member_changed(self, booth: int, booking: int | None) -> None:
        pass  # the core's rooms say it

    def presence_changed(self, presence: PresenceChanged) -> None:
        pass  # the core's connections say it

    def append(self, booking: int, entry: dict[str, Any], if_open: bool) -> None:
        if self.logs is None or (if_open and booking not in self._positions):
            return
        position = self._positions.get(booking, 0) + 1
        self._positions[booking] = position
        self._pending.append((booking, position, encode_entry(entry).decode()))
        self._wake.set()  # who is in a room, and their resume tokens: written at once

    def follow(self, booking: int, follow: bool) -> None:
        if not follow and self._node is not None and not self._moved(booking):
            self._finished.add(booking)  # closed for good: its log is no longer needed
            self._wake.set()

    async def member_of(self, booth: int) -> int | None:
        assert self._node is not None
        return self._node.core.room_of(booth)

    async def presence(self, booth_ids: Sequence[int]) -> list[BoothPresence]:
        from .node import BoothPresence

        assert self._node is not None
        return [BoothPresence(*p) for p in self._node.core.presence(booth_ids)]

    def _moved(self, booking: int) -> bool:
        assert self._node is not None
        return self._node.core.ended_reason(booking) is CloseReason.MOVED

    async def _write_behind(self) -> None:
        """Write what is pending whenever an entry other than a signal arrives (a join, a drop,
        a resume: rare, and what a restart needs most); an idle server never wakes for it."""
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._pending or self._finished:
                try:
                    await self._write()
                except Exception:
                    log.exception("signalling: could not write the room logs; trying again")

    async def _write(self) -> None:
        assert self.logs is not None
        rows, self._pending = self._pending, []
        finished, self._finished = self._finished, set()
        for booking in finished:
            self._positions.pop(booking, None)
        try:
            await self.logs.write(rows, finished)
        except Exception:
            self._pending[:0] = rows
            self._finished |= finished
            raise

"""The signalling side of one server node: the shell around :class:`webrtc.core.SignallingCore`.

The core decides; this class does the I/O it asks for. It feeds the core with the sockets'
events (``hello`` after the device key was checked in the database, ``join`` after the
scheduler said which booking that is, signals, closes) and the clock's ``now``, then performs
the core's actions: writes to sockets, closes, appends to room logs and messages to the other
nodes through the :class:`~booth_server.bus.Bus`, schedules read from the database, metrics.

Timers: one task sleeps until the core's next deadline (room timers this node fires, idle
booths' schedule changes), at most :data:`MAX_SLEEP` seconds (a wall clock that steps is caught
within that), and wakes at once when the app clock is advanced (tests, demos).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import secrets
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduler.batching import Batched
from scheduler.devices import DeviceKey
from scheduler.errors import NotFound
from scheduler.model import BookingStatus
from scheduler.store import Store
from webrtc import turn
from webrtc.core import (
    Action,
    Append,
    BookingInfo,
    Broadcast,
    Close,
    Counted,
    Hello,
    MemberOf,
    PresenceChanged,
    PushSchedule,
    Send,
    SignallingCore,
    Watch,
)
from webrtc.core import Timings as CoreTimings
from webrtc.errors import CloseCode, ProtocolError
from webrtc.limits import SHUTDOWN_RETRY_AFTER
from webrtc.messages import ErrorMessage, Join, Leave, ServerGoingAway
from webrtc.messages import Hello as HelloMessage
from webrtc.waiting import wait_set

from . import schedules
from .auth import secret_hash
from .booth_auth import new_resume_token
from .clock import Clock
from .connection import Connection, Timings
from .metrics import Metrics

if TYPE_CHECKING:
    from .bus import Bus

log = logging.getLogger(__name__)

MAX_SLEEP = 1.0  # seconds between two looks at the deadlines, whatever they are


@dataclass(frozen=True)
class BoothPresence:
    booth_id: int
    state: str  # offline | idle | in_room | reconnecting
    booking_id: int | None
    since: datetime | None


class SignallingNode:
    def __init__(
        self,
        *,
        node_id: str,
        clock: Clock,
        store: Store,
        turn_config: turn.TurnConfig,
        metrics: Metrics,
        timings: Timings,
        bus: Bus,
    ) -> None:
        self.node_id = node_id
        self.clock = clock
        self.store = store
        self.metrics = metrics
        self.timings = timings
        self.bus = bus
        self.core = SignallingCore(
            node=node_id,
            timings=CoreTimings(timings.heartbeat_interval, timings.idle_timeout),
            ice_servers_for=functools.partial(turn.ice_servers, turn_config),
            local_log=not bus.shared,
        )
        self._sockets: dict[str, Connection] = {}  # every open socket, authenticated or not
        self._ids = itertools.count(1)
        self._run = secrets.token_hex(3)
        self._first_join: dict[int, float] = {}  # booking -> monotonic time its room opened
        #: Schedules are built for every idle booth waiting for one at once (a join storm).
        self._schedules: Batched[int, None] = Batched(self._push_schedules)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()

    # --- sockets --------------------------------------------------------------------------

    def opened(self, conn: Connection) -> None:
        # The run's own tag: a restarted node with the same name must not reuse the ids that
        # the rooms it rebuilds still name.
        conn.id = f"{self.node_id}:{self._run}:{next(self._ids)}"
        self._sockets[conn.id] = conn

    async def hello(
        self, conn: Connection, key: DeviceKey, hello: HelloMessage, session: tuple[str, datetime]
    ) -> None:
        """An authenticated ``hello``: the core welcomes, resumes or takes over."""
        resume_booking = None
        if hello.resume_token is not None:
            resume_booking = await self.bus.member_of(key.booth_id)
            if resume_booking is not None:
                await self.bus.load(resume_booking)
        if conn.closing:
            return  # timed out while the room was looked up
        token = new_resume_token()
        conn.booth_id = key.booth_id
        self.core.hello(
            conn.id,
            Hello(
                booth=key.booth_id,
                key_id=key.id,
                session_token=session[0],
                session_expires_at=session[1],
                resume_token=token,
                resume_hash=secret_hash(token),
                resume_booking=resume_booking,
                resume_presented=secret_hash(hello.resume_token) if hello.resume_token is not None else None,
                last_seq=hello.last_seq or 0,
            ),
            self.clock.now(),
        )
        conn.state = self.core.conn(conn.id)
        self.flush()
        log.info("booth %d connected on %s", key.booth_id, conn.id)

    def closed(self, conn: Connection) -> None:
        """The socket is closed. A booth in a room starts its resume grace."""
        self._sockets.pop(conn.id, None)
        if conn.state is not None and self.core.conn(conn.id) is not None:
            self.core.closed(conn.id, self.clock.now())
            self.flush()
            log.info("booth %d disconnected (%s)", conn.state.booth, conn.id)

    def revoke(self, booth_id: int, keep_key_id: int | None = None) -> None:
        """Close the booth's sockets, on every node, that authenticated with any key but ``keep_key_id``."""
        self.core.revoke(booth_id, keep_key_id)
        self.bus.broadcast("revoke", {"booth": booth_id, "keep_key": keep_key_id})
        self.flush()

    # --- room requests from a booth -------------------------------------------------------

    async def join(self, conn: Connection, message: Join) -> None:
        """Enter the room of a booking, after asking the scheduler what that booking is."""
        self.core.may_ask_to_join(conn.id, message.booking_id, message.id)
        try:
            view = await self.store.booking(message.booking_id)
        except NotFound:
            raise ProtocolError(
                "not_booked", f"there is no booking {message.booking_id}", ref=message.id
            ) from None
        await self.bus.load(view.id)
        if conn.closing or self.core.conn(conn.id) is None:
            return  # replaced or closed while the scheduler answered
        booking = BookingInfo(
            view.id,
            tuple(b.id for b in view.booths),
            view.start,
            view.end,
            cancelled=view.status is BookingStatus.CANCELLED,
        )
        self.core.join(conn.id, booking, message.id, self.clock.now())
        self.flush()

    def leave(self, conn: Connection, message: Leave) -> None:
        self.core.leave(conn.id, message.booking_id, message.id, self.clock.now())
        self.flush()

    def signal(self, conn: Connection, wire: dict[str, Any]) -> None:
        """A call's traffic, checked against its schema: relayed at once on one node, appended
        to the room's shared log on several."""
        send = self.core.signal(conn.id, wire, self.clock.now())
        if send is not None:
            partner = self._sockets.get(send.conn)
            if partner is not None:
                partner.send(send.message)
        if self.core.actions:
            self.flush()

    # --- from the scheduler and the other nodes -------------------------------------------

    def booking_changed(
        self,
        booking_id: int,
        kind: str,
        booth_ids: Iterable[int],
        start: datetime,
        end: datetime,
        all_booths: Iterable[int],
    ) -> None:
        """A booking change committed on this node: the room's log gets it, and every node
        refreshes the schedules of its idle booths that show it."""
        self.core.booking_changed(booking_id, kind, tuple(booth_ids), start, end, self.clock.now())
        affected = sorted(set(all_booths))
        self.core.schedules_stale(affected, booking_id)
        self.bus.broadcast("schedules", {"booths": affected, "booking": booking_id})
        self.flush()

    def on_broadcast(self, kind: str, data: dict[str, Any]) -> None:
        """A message from another node."""
        now = self.clock.now()
        if kind == "kick":
            self.core.kick(data["booth"], data["keep"], now)
        elif kind == "revoke":
            self.core.revoke(data["booth"], data["keep_key"])
        elif kind == "schedules":
            self.core.schedules_stale(data["booths"], data["booking"])
        self.flush()

    def on_entries(self, booking: int, entries: Iterable[dict[str, Any]]) -> None:
        """Entries of a room's log, from the shared bus, in log order."""
        for entry in entries:
            self.core.apply(booking, entry)
        self.flush()

    def room_here(self, booth: int) -> int | None:
        """The room of the booth's connection on this node (None: idle, or not here)."""
        conn_id = self.core.conn_of(booth)
        state = self.core.conn(conn_id) if conn_id is not None else None
        return state.booking if state is not None else None

    def send_to(self, booth: int, message: Any) -> bool:
        """Send a connection message (no ``seq``) to a booth idle on this node; False if it is not."""
        conn_id = self.core.conn_of(booth)
        conn = self._sockets.get(conn_id) if conn_id is not None else None
        if conn is None or self.room_here(booth) is not None:
            return False
        conn.send(message)
        return True

    async def presence(self, booth_ids: Iterable[int]) -> list[BoothPresence]:
        """Where each booth is, on whichever node holds it."""
        return await self.bus.presence(list(booth_ids))

    # --- actions --------------------------------------------------------------------------

    def flush(self) -> None:
        """Perform what the core asked for, in order."""
        core = self.core
        while core.actions:
            for action in core.take_actions():
                # A call's traffic is a Send and an Append each: tested first, by exact type.
                if type(action) is Send:
                    conn = self._sockets.get(action.conn)
                    if conn is not None:
                        message = action.message
                        if type(message) is ErrorMessage:
                            self.metrics.error(message.code)
                        conn.send(message)
                elif type(action) is Append:
                    self.bus.append(action.booking, action.entry, action.if_open)
                else:
                    self._perform(action)

    def _perform(self, action: Action) -> None:
        if isinstance(action, Close):
            conn = self._sockets.get(action.conn)
            if conn is not None:
                conn.close(action.code, action.reason)
        elif isinstance(action, PushSchedule):
            self._spawn(self._schedules.get(action.booth))
        elif isinstance(action, Broadcast):
            self.bus.broadcast(action.kind, action.data)
        elif isinstance(action, Watch):
            self.bus.follow(action.booking, action.follow)
            self._wake.set()
        elif isinstance(action, MemberOf):
            self.bus.member_changed(action.booth, action.booking)
            if action.booking is not None:
                log.info("booth %d joined booking %d", action.booth, action.booking)
        elif isinstance(action, PresenceChanged):
            self.bus.presence_changed(action)
            self.metrics.booths_connected.set(self.core.connected)
        elif isinstance(action, Counted):
            self._count(action)

    def _count(self, counted: Counted) -> None:
        if counted.name == "resume":
            self.metrics.resumes.labels(counted.label).inc()
        elif counted.name == "room":
            self.metrics.rooms_open.set(len(self.core.rooms))
            if counted.label == "opened" and counted.booking is not None:
                self._first_join[counted.booking] = time.monotonic()
                log.info("room of booking %d opened", counted.booking)
            elif counted.booking is not None:
                self._first_join.pop(counted.booking, None)
                log.info("room of booking %d closed", counted.booking)
        elif counted.name == "joined" and counted.booking in self._first_join:
            self.metrics.join_latency.observe(time.monotonic() - self._first_join.pop(counted.booking))

    async def _push_schedules(self, booths: Sequence[int]) -> dict[int, None]:
        """Build the schedules of these booths in one query and hand them to the core."""
        built = await schedules.schedules_for(self.store, booths, self.clock.now())
        for booth, (schedule, changes_at) in built.items():
            self.core.schedule(booth, schedule, changes_at)
        self.flush()
        self._wake.set()
        return {}

    # --- timers and shutdown --------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """The timer task: room deadlines (countdowns, grace, slot end) and schedule changes."""
        while True:
            now = self.clock.now()
            try:
                self.core.tick(now)
                self.flush()
            except Exception:  # one broken room must not stop every other room's timers
                log.exception("signalling timers failed")
            due = self.core.next_deadline()
            delay = MAX_SLEEP
            if due is not None:
                delay = max(0.0, min(delay, (due - self.clock.now()).total_seconds()))
            self._wake.clear()
            await wait_set(self._wake, delay)

    async def run_heartbeats(self) -> None:
        """One sweep over every socket for pings, the idle timeout and the auth timeout
        (instead of a timer task per socket: thousands of idle booths stay cheap)."""
        loop = asyncio.get_running_loop()
        timings = self.timings
        while True:
            await asyncio.sleep(timings.sweep_every)
            now = loop.time()
            for conn in list(self._sockets.values()):
                conn.check_timers(now, timings)

    async def shutdown(self, wait: float = 5.0) -> None:
        """Stop accepting, tell every socket ``server_going_away`` and close it with 1001."""
        self.core.shutdown(SHUTDOWN_RETRY_AFTER)
        sockets = list(self._sockets.values())
        for conn in sockets:
            if conn.state is None:  # not authenticated: the core does not know it
                conn.send(ServerGoingAway(retry_after=SHUTDOWN_RETRY_AFTER))
                conn.close(CloseCode.GOING_AWAY, "server_going_away")
        self.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.wait_finished() for c in sockets)), wait)
        for conn in sockets:  # a booth that did not finish the closing handshake: gone all the same
            self.closed(conn)  # (its drop must reach the log before the bus stops)
        for task in list(self._tasks):
            task.cancel()

    # --- internals ------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("signalling background task failed", exc_info=task.exception())

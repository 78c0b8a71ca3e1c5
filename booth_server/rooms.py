"""The live side of signalling: rooms, the booths' sockets, presence, and one timer task.

:class:`RoomRegistry` owns, on this node, every live :class:`webrtc.room.Room` (one per
booking with a booth in it), the current socket of each booth, and what idle booths were last
shown. It feeds the pure room events with the app clock's ``now`` and routes what the room
queues to sockets. It is the seam for running several nodes later: a Redis bus would sit
behind ``_deliver`` (a booth connected elsewhere) and room ownership, and nothing outside
this class would change.

Timers: one task for the whole registry sleeps until the earliest room deadline or schedule
change, at most :data:`MAX_SLEEP` seconds (a wall clock that steps is caught within that), and
wakes at once when the app clock is advanced (tests, demos) or a deadline moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import math
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.devices import DeviceKey
from scheduler.errors import NotFound
from scheduler.model import BookingStatus, BookingView
from scheduler.store import Store
from webrtc import turn
from webrtc.errors import CloseCode, ProtocolError
from webrtc.limits import (
    IDLE_TURN_VALIDITY,
    JOIN_OPENS_BEFORE_START,
    PROTOCOL_VERSION,
    RESUME_GRACE,
    SHUTDOWN_RETRY_AFTER,
)
from webrtc.messages import (
    CloseReason,
    Hello,
    IceServer,
    Join,
    Leave,
    ServerGoingAway,
    Signal,
    Welcome,
)
from webrtc.presence import Presence
from webrtc.room import MemberState, Outgoing, Room

from . import schedules
from .auth import secret_hash
from .booth_auth import new_resume_token
from .clock import Clock
from .connection import Connection, Timings
from .metrics import Metrics

log = logging.getLogger(__name__)

MAX_SLEEP = 1.0  # seconds between two looks at the deadlines, whatever they are


@dataclass(frozen=True)
class BoothPresence:
    booth_id: int
    state: str  # offline | idle | in_room | reconnecting
    booking_id: int | None
    since: datetime | None


class RoomRegistry:
    def __init__(
        self, *, clock: Clock, store: Store, turn_config: turn.TurnConfig, metrics: Metrics, timings: Timings
    ) -> None:
        self.clock = clock
        self.store = store
        self.turn_config = turn_config
        self.metrics = metrics
        self.timings = timings
        self.draining = False
        self._sockets: set[Connection] = set()  # every open socket, authenticated or not
        self._booths: dict[int, Connection] = {}  # booth -> its current socket
        self._rooms: dict[int, Room] = {}  # booking -> its live room
        self._member_of: dict[int, int] = {}  # booth -> the room it is in (present or reconnecting)
        self._resume: dict[int, str] = {}  # booth -> hash of the resume token of its last welcome
        self._presence = Presence()
        self._since: dict[int, datetime] = {}  # booth -> when its presence state last changed
        self._first_join: dict[int, float] = {}  # booking -> monotonic time of its room's first join
        self._schedule_due: dict[int, datetime] = {}  # idle booth -> when its schedule changes next
        self._shown: dict[int, set[int]] = {}  # booth -> bookings in the last schedule it was sent
        self._seq_floor: dict[int, dict[int, int]] = {}  # moved booking -> last seq of each booth
        self._schedule_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()

    # --- sockets --------------------------------------------------------------------------

    def opened(self, conn: Connection) -> None:
        self._sockets.add(conn)

    def attach(
        self, conn: Connection, key: DeviceKey, hello: Hello, session: tuple[str, datetime], now: datetime
    ) -> None:
        """An authenticated ``hello``: welcome, resume or take over, then the schedule if idle."""
        booth = key.booth_id
        conn.booth_id, conn.key_id, conn.connected_at = booth, key.id, now
        room: Room | None = None
        missed: list[Outgoing] = []
        failure: ProtocolError | None = None
        if hello.resume_token is not None:
            try:
                room, missed = self._resume_room(booth, hello.resume_token, hello.last_seq or 0, now)
            except ProtocolError as exc:
                failure = ProtocolError("resume_failed", exc.message, ref=hello.id)
            self.metrics.resumes.labels("failed" if room is None else "ok").inc()
        old = self._booths.get(booth)
        if old is not None and old is not conn:
            old.fail(ProtocolError("replaced", "a newer connection of this booth took over"))
            if room is None:
                self._step_out(booth, now)  # the partner sees reconnecting; the new socket joins afresh
        self._booths[booth] = conn
        self._presence.connect(booth)
        self._shown.pop(booth, None)
        resume_token = new_resume_token()
        self._resume[booth] = secret_hash(resume_token)
        valid_until = room.end if room is not None else now + IDLE_TURN_VALIDITY
        conn.send(
            Welcome(
                version=PROTOCOL_VERSION,
                booth_id=booth,
                session_token=session[0],
                session_expires_at=session[1],
                resume_token=resume_token,
                resumed=room is not None,
                server_time=now,
                heartbeat_interval=max(1, math.ceil(self.timings.heartbeat_interval)),
                idle_timeout=max(1, math.ceil(self.timings.idle_timeout)),
                resume_grace=int(RESUME_GRACE.total_seconds()),
                ice_servers=self._ice_servers(booth, valid_until),
            )
        )
        if room is not None:
            for message in missed:
                conn.send(message)
            conn.booking_id = room.booking_id
            self._presence.enter_room(booth, room.booking_id)
            self._after(room, now)
        elif failure is not None:
            conn.fail(failure)
        self._since[booth] = now
        self.metrics.booths_connected.set(len(self._booths))
        log.info("booth %d connected%s", booth, f", resumed booking {room.booking_id}" if room else "")
        if room is None:
            self._spawn(self.push_schedule(booth))

    def detach(self, conn: Connection) -> None:
        """The socket is closed. A booth in a room starts its resume grace."""
        self._sockets.discard(conn)
        booth = conn.booth_id
        if booth is None or self._booths.get(booth) is not conn:
            return  # never authenticated, or replaced by a newer socket
        now = self.clock.now()
        del self._booths[booth]
        self._presence.disconnect(booth)
        self._shown.pop(booth, None)
        self._schedule_due.pop(booth, None)
        self._step_out(booth, now)
        self._since[booth] = now
        self.metrics.booths_connected.set(len(self._booths))
        log.info("booth %d disconnected", booth)

    def revoke(self, booth_id: int, keep_key_id: int | None = None) -> None:
        """Close the booth's sockets that authenticated with any key but ``keep_key_id``."""
        for conn in list(self._sockets):
            if conn.booth_id == booth_id and conn.key_id != keep_key_id:
                conn.fail(ProtocolError("unauthorized", "this booth's device key was revoked"))

    # --- room events from a booth ---------------------------------------------------------

    async def join(self, conn: Connection, message: Join, now: datetime) -> None:
        """Enter the room of a booking, after asking the scheduler whether this booth may."""
        booth, booking_id = conn.booth_id, message.booking_id
        assert booth is not None
        if conn.booking_id is not None and conn.booking_id != booking_id:
            raise ProtocolError(
                "wrong_room",
                f"this connection is in the room of booking {conn.booking_id}; leave it first",
                path="/booking_id",
                ref=message.id,
            )
        try:
            view = await self.store.booking(booking_id)
        except NotFound:
            raise ProtocolError("not_booked", f"there is no booking {booking_id}", ref=message.id) from None
        now = self.clock.now()  # the lookup took time
        self._check_may_join(view, booth, now, message.id)
        if self._booths.get(booth) is not conn or conn.closing:
            return  # replaced while the scheduler answered
        other = self._member_of.get(booth)
        if other is not None and other != booking_id and other in self._rooms:
            self._leave(booth, self._rooms[other], now)  # left over from a socket that did not resume
        room = self._rooms.get(booking_id) or self._open_room(view, now)
        try:
            room.join(booth, now)
        except ProtocolError as exc:
            exc.ref = message.id
            raise
        conn.booking_id = booking_id
        self._member_of[booth] = booking_id
        self._presence.enter_room(booth, booking_id)
        self._schedule_due.pop(booth, None)
        self._since[booth] = now
        log.info("booth %d joined booking %d", booth, booking_id)
        self._after(room, now)
        if booking_id in self._first_join and all(
            room.state_of(b) is MemberState.PRESENT for b in room.booth_ids
        ):
            self.metrics.join_latency.observe(time.monotonic() - self._first_join.pop(booking_id))

    def relay(self, conn: Connection, wire: dict[str, Any], now: datetime) -> None:
        """A signal to pass on, as its wire dict checked against its schema: a call's traffic,
        so only the room's relay step runs (a signal never closes a room or moves a booth)."""
        booth = conn.booth_id
        assert booth is not None
        room = self._rooms.get(conn.booking_id)  # type: ignore[arg-type]  # None: no room
        if room is None:
            conn.booking_id = None
            raise ProtocolError("not_in_room", "join a room first")
        delivery = room.relay(booth, wire, now)
        if delivery is not None:
            self._deliver(delivery[0], room.booking_id, delivery[1])

    def receive(self, conn: Connection, message: Leave | Signal, now: datetime) -> None:
        """``leave`` or a typed signal to relay, for the room this socket is in."""
        booth = conn.booth_id
        assert booth is not None
        room = self._rooms.get(conn.booking_id) if conn.booking_id is not None else None
        if room is None:
            conn.booking_id = None
            raise ProtocolError("not_in_room", "join a room first", ref=message.id)
        room.receive(booth, message, now)
        if isinstance(message, Leave):
            self._left(booth, room, now)
            log.info("booth %d left booking %d", booth, room.booking_id)
        self._after(room, now)

    # --- events from staff and the scheduler ----------------------------------------------

    def booking_changed(self, view: BookingView, now: datetime) -> None:
        """A booking was cancelled, moved or extended: tell its live room, if any."""
        room = self._rooms.get(view.id)
        if room is None or room.closed:
            return
        same_booths = tuple(b.id for b in view.booths) == room.booth_ids
        if view.status is BookingStatus.CANCELLED:
            room.close(CloseReason.CANCELLED, now)
        elif same_booths and view.start == room.start and view.end > room.end:
            try:
                room.extend(view.end, now)
            except ProtocolError as exc:  # the slot ended just now: the timer closes the room
                log.info("booking %d not extended live: %s", view.id, exc.code)
        elif not same_booths or view.start != room.start or view.end != room.end:
            # The call as the booths joined it no longer exists: they go back to idle, and their
            # fresh schedule shows the new time (protocol v1 has no "moved" reason). A room
            # opened again for the booking numbers on from here.
            room.close(CloseReason.CANCELLED, now)
            self._seq_floor[view.id] = {booth: room.last_seq(booth) for booth in room.booth_ids}
        self._after(room, now)
        self._wake.set()

    def booths_showing(self, booking_id: int) -> set[int]:
        """Connected booths whose last schedule listed ``booking_id`` (it may have left their list)."""
        return {
            booth for booth, shown in self._shown.items() if booking_id in shown and booth in self._booths
        }

    async def push_schedule(self, booth: int) -> None:
        """Send the idle booth its schedule if it changed since it was last shown."""
        async with self._schedule_lock:
            conn = self._booths.get(booth)
            if conn is None or not self._presence.is_idle(booth):
                return
            now = self.clock.now()
            built = await schedules.schedule_for(self.store, booth, now)
            if built is None or self._booths.get(booth) is not conn or not self._presence.is_idle(booth):
                return
            schedule, changes_at = built
            shown = self._presence.update(schedule)
            if shown is not None:
                conn.send(shown)
                self._shown[booth] = {b.booking_id for b in shown.bookings}
            self._schedule_due[booth] = changes_at
            self._wake.set()

    # --- presence -------------------------------------------------------------------------

    def presence(self, booth_ids: Iterable[int]) -> list[BoothPresence]:
        out = []
        for booth in booth_ids:
            conn = self._booths.get(booth)
            booking = self._member_of.get(booth)
            if conn is not None:
                state = "in_room" if conn.booking_id is not None else "idle"
                booking = conn.booking_id
            elif booking is not None:
                state = "reconnecting"
            else:
                state = "offline"
            out.append(BoothPresence(booth, state, booking, self._since.get(booth)))
        return out

    def send_to(self, booth: int, message: Any) -> bool:
        """Send a connection message (no ``seq``) to a connected booth; False if it is not."""
        conn = self._booths.get(booth)
        if conn is None:
            return False
        conn.send(message)
        return True

    # --- timers and shutdown --------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """The timer task: room deadlines (countdowns, grace, slot end) and schedule changes."""
        while True:
            now = self.clock.now()
            deadlines: list[datetime] = []
            for room in list(self._rooms.values()):
                due = room.next_deadline()
                if due is not None and due <= now:
                    try:
                        room.handle_timer(now)
                        self._after(room, now)
                    except Exception:  # one broken room must not stop every other room's timers
                        log.exception("timer of booking %d failed", room.booking_id)
                    due = room.next_deadline()
                if due is not None:
                    deadlines.append(due)
            for booth, due in list(self._schedule_due.items()):
                if due <= now:
                    del self._schedule_due[booth]
                    self._spawn(self.push_schedule(booth))
                else:
                    deadlines.append(due)
            delay = MAX_SLEEP
            if deadlines:
                delay = max(0.0, min(delay, (min(deadlines) - now).total_seconds()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def run_heartbeats(self) -> None:
        """One sweep over every socket for pings, the idle timeout and the auth timeout
        (instead of a timer task per socket: thousands of idle booths stay cheap)."""
        loop = asyncio.get_running_loop()
        timings = self.timings
        while True:
            await asyncio.sleep(timings.sweep_every)
            now = loop.time()
            for conn in list(self._sockets):
                conn.check_timers(now, timings)

    async def shutdown(self, wait: float = 5.0) -> None:
        """Stop accepting, tell every socket ``server_going_away`` and close it with 1001."""
        self.draining = True
        sockets = list(self._sockets)
        for conn in sockets:
            conn.send(ServerGoingAway(retry_after=SHUTDOWN_RETRY_AFTER))
            conn.close(CloseCode.GOING_AWAY, "server_going_away")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.wait_finished() for c in sockets)), wait)
        for task in list(self._tasks):
            task.cancel()

    # --- internals ------------------------------------------------------------------------

    def _ice_servers(self, booth: int, valid_until: datetime) -> tuple[IceServer, ...]:
        return tuple(IceServer.from_dict(s) for s in turn.ice_servers(self.turn_config, booth, valid_until))

    def _check_may_join(self, view: BookingView, booth: int, now: datetime, ref: str | int | None) -> None:
        if booth not in {b.id for b in view.booths}:
            raise ProtocolError("not_booked", f"booth {booth} is not booked in booking {view.id}", ref=ref)
        if view.status is BookingStatus.CANCELLED:
            raise ProtocolError("cancelled", f"booking {view.id} was cancelled", ref=ref)
        if now >= view.end:
            raise ProtocolError("slot_ended", f"booking {view.id} ended at {view.end.isoformat()}", ref=ref)
        opens = view.start - JOIN_OPENS_BEFORE_START
        if now < opens:
            raise ProtocolError("too_early", f"the room opens at {opens.isoformat()}", ref=ref)

    def _open_room(self, view: BookingView, now: datetime) -> Room:
        room = Room(
            view.id,
            [b.id for b in view.booths],
            view.start,
            view.end,
            now,
            ice_servers=functools.partial(turn.ice_servers, self.turn_config),
            seq_after=self._seq_floor.pop(view.id, None),
        )
        self._rooms[view.id] = room
        self._first_join[view.id] = time.monotonic()
        self.metrics.rooms_open.set(len(self._rooms))
        self._wake.set()
        log.info("room of booking %d opened", view.id)
        return room

    def _resume_room(
        self, booth: int, token: str, last_seq: int, now: datetime
    ) -> tuple[Room, list[Outgoing]]:
        expected = self._resume.get(booth)
        if expected is None or not hmac.compare_digest(expected, secret_hash(token)):
            raise ProtocolError("resume_failed", "unknown resume token")
        room = self._rooms.get(self._member_of.get(booth, -1))
        if room is None:
            raise ProtocolError("resume_failed", "this booth is in no room to resume")
        return room, room.resume(booth, last_seq, now)

    def _step_out(self, booth: int, now: datetime) -> None:
        """The booth's socket is gone: if present in a room, it is now reconnecting there."""
        room = self._rooms.get(self._member_of.get(booth, -1))
        if room is not None and room.state_of(booth) is MemberState.PRESENT:
            room.disconnect(booth, now)
            self._after(room, now)
            self._wake.set()

    def _leave(self, booth: int, room: Room, now: datetime) -> None:
        if room.state_of(booth) is not MemberState.ABSENT:
            room.leave(booth, now)
        self._left(booth, room, now)
        self._after(room, now)

    def _left(self, booth: int, room: Room, now: datetime) -> None:
        """The booth is out of ``room`` (left, or the room closed): idle again if connected."""
        if self._member_of.get(booth) == room.booking_id:
            del self._member_of[booth]
        conn = self._booths.get(booth)
        if conn is not None and conn.booking_id == room.booking_id:
            conn.booking_id = None
            self._presence.leave_room(booth)
            self._spawn(self.push_schedule(booth))
        self._since[booth] = now

    def _after(self, room: Room, now: datetime) -> None:
        """Send what the room queued; then follow its members out, or close it."""
        for booth, message in room.drain():
            self._deliver(booth, room.booking_id, message)
        if room.closed:
            for booth in room.booth_ids:
                if self._member_of.get(booth) == room.booking_id:
                    self._left(booth, room, now)
            self._rooms.pop(room.booking_id, None)
            self._first_join.pop(room.booking_id, None)
            self.metrics.rooms_open.set(len(self._rooms))
            log.info("room of booking %d closed (%s)", room.booking_id, room.close_reason)
            return
        for booth in room.booth_ids:  # the resume grace ran out: the booth is out of the room
            if room.state_of(booth) is MemberState.ABSENT and self._member_of.get(booth) == room.booking_id:
                del self._member_of[booth]
                if booth not in self._booths:
                    self._since[booth] = now

    def _deliver(self, booth: int, booking_id: int, message: Any) -> None:
        conn = self._booths.get(booth)
        if conn is not None and conn.booking_id == booking_id:
            conn.send(message)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("signalling background task failed", exc_info=task.exception())

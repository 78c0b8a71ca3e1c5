"""The signalling server of one node, as a sans-IO object.

:class:`SignallingCore` owns everything the server knows about booths and rooms: which booth
is connected here and on which connection, which room each connection is in, the replicas of
the rooms, resume tokens (hashed), presence, and the room timers. Events come in as method
calls with ``now``; what must happen comes out as actions in :attr:`SignallingCore.actions`
(send a message, close a socket, append to a room's log, tell the other nodes, push a
schedule). It imports no asyncio, aiohttp or redis: ``booth_server.signalling`` moves bytes
between sockets and this object, and a bus carries its appends between nodes.

**Rooms are replicated logs.** Every change of a room (a booth joins, relays a signal, drops,
resumes, leaves; a timer fires; the booking changes) is an entry appended to that room's log,
and every node that cares about the room applies the entries in log order to its own replica of
the pure :class:`~webrtc.room.Room`. Applying is deterministic (each entry carries its instant),
so every replica numbers every booth's messages alike, keeps the same history, and agrees on
who is in the room: any node can serve any booth, and a booth that lost its node resumes on
another one from its ``last_seq``. The node that holds a booth's connection delivers that
booth's messages; the room's member record (``Member.conn``) is the one place that says which
connection that is.

With ``local_log`` (the embedded default, one process) the core applies its own appends at once
and the bus only persists them; with a shared log (Redis) the core waits for the bus to hand
the entry back through :meth:`SignallingCore.apply`, in the order every node sees. A local log
leaves signals out, a call's traffic: the core relays them at once and returns the partner's
copy (:meth:`SignallingCore.signal`), and the log records the room's history instead when it
must outlive the process (:meth:`SignallingCore.kept_entry`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from webrtc.errors import CloseCode, ProtocolError
from webrtc.limits import IDLE_TURN_VALIDITY, JOIN_OPENS_BEFORE_START, PROTOCOL_VERSION, RESUME_GRACE
from webrtc.messages import (
    CloseReason,
    IceServer,
    Message,
    Relayed,
    Schedule,
    ServerGoingAway,
    Welcome,
    error_message,
)
from webrtc.presence import Presence
from webrtc.room import MemberState, Room

#: How long a closed room's reason is kept, so that a late message for it is told why.
ENDED_ROOMS_KEPT = timedelta(hours=2)
MOVED_ROOMS_KEPT = timedelta(days=100)
_STATE_LOST = ProtocolError("state_lost", "the signalling state was lost: reconnect and join again")

IceServersFor = Callable[[int, datetime], Sequence[Mapping[str, Any]]]

# --- actions --------------------------------------------------------------------------------


class Send(NamedTuple):
    conn: str
    message: Message | Relayed


class Close(NamedTuple):
    conn: str
    code: int
    reason: str


class Append(NamedTuple):
    """Append ``entry`` to the log of room ``booking``. ``if_open``: only if the log exists (a
    booking change must not start a log for a room nobody opened)."""

    booking: int
    entry: dict[str, Any]
    if_open: bool = False


class Broadcast(NamedTuple):
    """Tell every other node (``kind``: ``kick``, ``revoke`` or ``schedules``)."""

    kind: str
    data: dict[str, Any]


class PushSchedule(NamedTuple):
    """Build the idle booth's schedule from the database and hand it to :meth:`SignallingCore.schedule`."""

    booth: int


class Watch(NamedTuple):
    """Start (or stop) following the log of room ``booking``."""

    booking: int
    follow: bool


class MemberOf(NamedTuple):
    """Remember which room ``booth`` is in (None: none), for a resume on any node."""

    booth: int
    booking: int | None


class PresenceChanged(NamedTuple):
    booth: int
    state: str  # idle | in_room | reconnecting | offline
    booking: int | None
    since: datetime


class Counted(NamedTuple):
    """A figure for the metrics: ``resume`` ok/failed, ``room`` opened/closed, ``joined`` all."""

    name: str
    label: str
    booking: int | None = None


Action = Send | Close | Append | Broadcast | PushSchedule | Watch | MemberOf | PresenceChanged | Counted

# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingInfo:
    """What the core needs of a booking: from the scheduler, checked by the shell."""

    booking_id: int
    booth_ids: tuple[int, ...]  # in booking order: the first is impolite
    start: datetime
    end: datetime
    cancelled: bool = False


@dataclass(frozen=True)
class Hello:
    """An authenticated ``hello``, as the shell checked it (device key or session token)."""

    booth: int
    key_id: int
    session_token: str
    session_expires_at: datetime
    resume_token: str  # the new one, for the welcome
    resume_hash: str  # its hash, which the room keeps
    #: A resume claim: the room the booth was in (looked up by the shell), the hash of the
    #: token it presented, and its ``last_seq``.
    resume_booking: int | None = None
    resume_presented: str | None = None
    last_seq: int = 0


@dataclass
class Conn:
    """An authenticated connection on this node."""

    id: str
    booth: int
    key_id: int
    resume_hash: str
    booking: int | None = None  # the room this connection is in
    hello: Hello | None = None  # kept while a resume waits for its log entry
    joining: int | None = None  # the room whose join entry is on its way through the log


@dataclass(frozen=True)
class Timings:
    heartbeat_interval: float
    idle_timeout: float


@dataclass
class _Ended:
    """A closed room, remembered: late messages are told why, and a room opened again for a
    moved booking numbers on from ``last_seqs`` (seq never goes backwards for a booking)."""

    reason: CloseReason
    booths: frozenset[int]
    end: datetime
    last_seqs: dict[int, int]

    def kept_until(self) -> datetime:
        # A moved booking can be joined again up to 90 days later (the advance rule).
        return self.end + (MOVED_ROOMS_KEPT if self.reason is CloseReason.MOVED else ENDED_ROOMS_KEPT)


@dataclass
class SignallingCore:
    node: str
    timings: Timings
    ice_servers_for: IceServersFor | None = None
    #: The embedded default: this node's own appends are the log (applied at once).
    local_log: bool = True
    #: Room messages of rooms opened from now on are numbered from here (a new epoch after a
    #: store lost its data: numbers never go backwards for a booking).
    seq_base: int = 0
    actions: list[Action] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._conns: dict[str, Conn] = {}  # authenticated connections on this node
        self._local: dict[int, str] = {}  # booth -> its current connection on this node
        self._rooms: dict[int, Room] = {}  # replicas of the rooms this node follows
        self._ended: dict[int, _Ended] = {}
        self._timers: set[int] = set()  # rooms whose timers this node fires
        self._presence = Presence()
        self._since: dict[int, datetime] = {}  # booth -> when its presence last changed
        self._shown: dict[int, set[int]] = {}  # booth -> bookings in the last schedule it was sent
        self._schedule_due: dict[int, datetime] = {}  # idle booth -> when its schedule changes

    # --- queries --------------------------------------------------------------------------

    def take_actions(self) -> list[Action]:
        out, self.actions = self.actions, []
        return out

    def conn(self, conn_id: str) -> Conn | None:
        return self._conns.get(conn_id)

    def conn_of(self, booth: int) -> str | None:
        """The booth's current connection on this node."""
        return self._local.get(booth)

    def room(self, booking: int) -> Room | None:
        return self._rooms.get(booking)

    @property
    def rooms(self) -> Mapping[int, Room]:
        return self._rooms

    @property
    def connected(self) -> int:
        return len(self._local)

    def ended_reason(self, booking: int) -> CloseReason | None:
        """Why room ``booking`` closed, while that is remembered (None: live, or unknown)."""
        ended = self._ended.get(booking)
        return ended.reason if ended is not None else None

    def room_of(self, booth: int) -> int | None:
        """The room a booth is a member of (present or reconnecting), as this node's replicas say."""
        for booking, room in self._rooms.items():
            member = room.member(booth)
            if member is not None and member.state is not MemberState.ABSENT:
                return booking
        return None

    def presence(self, booth_ids: Iterable[int]) -> list[tuple[int, str, int | None, datetime | None]]:
        """``(booth, state, booking, since)`` as this node sees it."""
        out = []
        for booth in booth_ids:
            conn_id = self._local.get(booth)
            if conn_id is not None:
                booking = self._conns[conn_id].booking
                state = "in_room" if booking is not None else "idle"
            else:
                booking = self.room_of(booth)
                state = "reconnecting" if booking is not None else "offline"
            out.append((booth, state, booking, self._since.get(booth)))
        return out

    def present_elsewhere(self, booking: int) -> list[tuple[int, str]]:
        """``(booth, conn)`` of the room's present members whose connection is not on this node:
        the shell checks that their node is alive (a node killed outright tells nobody)."""
        room = self._rooms.get(booking)
        if room is None:
            return []
        out = []
        for booth in room.booth_ids:
            member = room.member(booth)
            if member is not None and member.state is MemberState.PRESENT and member.conn is not None:
                if member.conn not in self._conns:
                    out.append((booth, member.conn))
        return out

    def next_deadline(self) -> datetime | None:
        """When :meth:`tick` must run next: a room timer this node fires, or a schedule change."""
        due = [d for b in self._timers if (d := self._rooms[b].next_deadline()) is not None]
        due += self._schedule_due.values()
        return min(due, default=None)

    def booths_showing(self, booking: int) -> set[int]:
        """Connected booths whose last schedule listed ``booking``."""
        return {b for b, shown in self._shown.items() if booking in shown and b in self._local}

    # --- connections ----------------------------------------------------------------------

    def hello(self, conn_id: str, hello: Hello, now: datetime) -> None:
        """An authenticated ``hello``: welcome (after a resume, once the log has it), take over
        from an older connection of the booth on any node, then the schedule if idle."""
        booth = hello.booth
        old = self._local.get(booth)
        if old is not None and old != conn_id:
            self._replace(old, now)
        self.actions.append(Broadcast("kick", {"booth": booth, "keep": conn_id}))
        conn = Conn(conn_id, booth, hello.key_id, hello.resume_hash)
        self._conns[conn_id] = conn
        self._local[booth] = conn_id
        self._presence.connect(booth)
        self._shown.pop(booth, None)
        if hello.resume_presented is not None:
            booking = hello.resume_booking
            if booking is not None and booking in self._rooms:
                conn.hello = hello
                self._append(
                    booking,
                    {
                        "e": "resume",
                        "t": now,
                        "b": booth,
                        "c": conn_id,
                        "p": hello.resume_presented,
                        "h": hello.resume_hash,
                        "s": hello.last_seq,
                    },
                )
                return
            self._welcome(conn, hello, now, None)
            self._refuse(conn_id, ProtocolError("resume_failed", "this booth is in no room to resume"))
            self.actions.append(Counted("resume", "failed"))
        else:
            self._welcome(conn, hello, now, None)
        self._idle(conn, now)

    def closed(self, conn_id: str, now: datetime) -> None:
        """The socket is gone. A booth in a room is reconnecting there for the resume grace."""
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return  # never authenticated, or replaced already
        booth = conn.booth
        if self._local.get(booth) == conn_id:
            del self._local[booth]
            self._presence.disconnect(booth)
            self._shown.pop(booth, None)
            self._schedule_due.pop(booth, None)
        booking = conn.booking
        if booking is None and conn.hello is not None:
            booking = conn.hello.resume_booking  # its resume is still on its way through the log
        if booking is not None:
            self._append(booking, {"e": "drop", "t": now, "b": booth, "c": conn_id})
        if booth not in self._local:
            state = "reconnecting" if booking is not None else "offline"
            self._set_presence(booth, state, booking, now)

    def kick(self, booth: int, keep: str, now: datetime) -> None:
        """Another node welcomed ``booth`` on connection ``keep``: newer wins."""
        old = self._local.get(booth)
        if old is not None and old != keep:
            self._replace(old, now)

    def revoke(self, booth: int, keep_key_id: int | None) -> None:
        """Close this booth's connections made with any key but ``keep_key_id``."""
        for conn in list(self._conns.values()):
            if conn.booth == booth and conn.key_id != keep_key_id:
                self._refuse(conn.id, ProtocolError("unauthorized", "this booth's device key was revoked"))

    def shutdown(self, retry_after: int) -> None:
        """Tell every connection ``server_going_away`` and close it with 1001."""
        for conn_id in list(self._conns):
            self.actions.append(Send(conn_id, ServerGoingAway(retry_after=retry_after)))
            self.actions.append(Close(conn_id, CloseCode.GOING_AWAY, "server_going_away"))

    # --- room requests from a booth -------------------------------------------------------

    def may_ask_to_join(self, conn_id: str, booking_id: int, ref: str | int | None) -> None:
        """Refuse at once what needs no scheduler: a join while in another room."""
        conn = self._conns[conn_id]
        if conn.booking is not None and conn.booking != booking_id:
            raise ProtocolError(
                "wrong_room",
                f"this connection is in the room of booking {conn.booking}; leave it first",
                path="/booking_id",
                ref=ref,
            )

    def join(self, conn_id: str, booking: BookingInfo, ref: str | int | None, now: datetime) -> None:
        """Enter the room of ``booking`` (the shell looked it up in the scheduler)."""
        conn = self._conns[conn_id]
        booth, booking_id = conn.booth, booking.booking_id
        self.may_ask_to_join(conn_id, booking_id, ref)
        _check_may_join(booking, booth, now, ref)
        for other, room in list(self._rooms.items()):  # left over from a socket that did not resume
            member = room.member(booth)
            if other != booking_id and member is not None and member.state is not MemberState.ABSENT:
                self._append(other, {"e": "leave", "t": now, "b": booth, "c": member.conn})
        if booking_id not in self._rooms:
            self.actions.append(Watch(booking_id, True))
            self._append(
                booking_id,
                {
                    "e": "open",
                    "t": now,
                    "booths": list(booking.booth_ids),
                    "start": booking.start,
                    "end": booking.end,
                    "base": self.seq_base,
                },
            )
        conn.joining = booking_id
        self._append(
            booking_id, {"e": "join", "t": now, "b": booth, "c": conn_id, "h": conn.resume_hash, "i": ref}
        )

    def leave(self, conn_id: str, booking_id: int, ref: str | int | None, now: datetime) -> None:
        conn = self._conns[conn_id]
        self._check_in_room(conn, booking_id, ref)
        self._append(booking_id, {"e": "leave", "t": now, "b": conn.booth, "c": conn_id, "i": ref})

    def signal(self, conn_id: str, wire: dict[str, Any], now: datetime) -> Send | None:
        """A signal (offer, answer, candidate, ice_restart) as the wire dict that passed its schema.

        A call's traffic takes the shortest path. With a local log the signal is applied here and
        now, and the partner's copy comes back as the :class:`Send` to perform at once rather
        than as a queued action (a refusal is queued as usual); it is no entry of the log, which
        records the room's history instead (:meth:`kept_entry`). With a shared log the signal is
        appended, and applied when the bus hands it back (:meth:`apply`): None then."""
        conn = self._conns[conn_id]
        booking = conn.booking
        if booking is None or wire["booking_id"] != booking:
            self._check_in_room(conn, wire["booking_id"], wire.get("id"))
        if not self.local_log:
            entry = {"e": "signal", "t": now, "b": conn.booth, "c": conn_id, "w": wire}
            self.actions.append(Append(booking, entry))  # type: ignore[arg-type]
            return None
        room = self._rooms.get(booking)  # type: ignore[arg-type]
        return None if room is None else self._relay(room, conn.booth, conn_id, wire, now)

    def kept_entry(self, booking: int, now: datetime) -> dict[str, Any] | None:
        """The entry that records what room ``booking``'s signals changed (every booth's
        numbering and history, the offers waiting for an answer), for a log that leaves the
        signals out: the embedded default appends it at a graceful stop and before a move
        closes the room, so that the rebuilt room numbers on and replays as this one would."""
        room = self._rooms.get(booking)
        return None if room is None else {"e": "kept", "t": now, **room.kept()}

    # --- from the scheduler, the clock and other nodes ------------------------------------

    def booking_changed(
        self,
        booking_id: int,
        kind: str,
        booth_ids: Sequence[int],
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> None:
        """A committed booking change, on the node that made it: the room's log gets it (so every
        replica closes, extends or moves the room) if the room was opened."""
        if self.local_log and kind in ("moved", "shortened"):
            # A moved room is opened again later and numbers on from where it stopped: the log
            # must know where that is, and it holds no signals (see signal()).
            kept = self.kept_entry(booking_id, now)
            if kept is not None:
                self._append(booking_id, kept)
        self._append(
            booking_id,
            {"e": "change", "t": now, "k": kind, "booths": list(booth_ids), "start": start, "end": end},
            if_open=True,
        )

    def schedules_stale(self, booth_ids: Iterable[int], booking_id: int | None) -> None:
        """Idle booths among these (and those whose schedule showed ``booking_id``) get a fresh one."""
        affected = set(booth_ids)
        if booking_id is not None:
            affected |= self.booths_showing(booking_id)
        for booth in sorted(affected):
            if booth in self._local and self._presence.is_idle(booth):
                self.actions.append(PushSchedule(booth))

    def schedule(self, booth: int, schedule: Schedule, changes_at: datetime) -> None:
        """The shell built ``booth``'s schedule: send it if the booth is idle and it changed."""
        conn_id = self._local.get(booth)
        if conn_id is None or not self._presence.is_idle(booth):
            return
        shown = self._presence.update(schedule)
        if shown is not None:
            self.actions.append(Send(conn_id, shown))
            self._shown[booth] = {b.booking_id for b in shown.bookings}
        self._schedule_due[booth] = changes_at

    def follow_timers(self, booking: int, fire: bool) -> None:
        """Whether this node fires the timers of room ``booking`` (it holds the room's lease)."""
        if fire and booking in self._rooms:
            self._timers.add(booking)
        else:
            self._timers.discard(booking)

    def tick(self, now: datetime) -> None:
        """Room timers this node fires that are due, and idle booths' schedule changes."""
        for booking in list(self._timers):
            room = self._rooms.get(booking)
            due = room.next_deadline() if room is not None else None
            if due is not None and due <= now:
                self._append(booking, {"e": "tick", "t": now})
        for booth, due in list(self._schedule_due.items()):
            if due <= now:
                del self._schedule_due[booth]
                self.actions.append(PushSchedule(booth))
        for booking, ended in list(self._ended.items()):
            if now > ended.kept_until():
                del self._ended[booking]

    def report_lost(self, booking: int, booth: int, conn_id: str, now: datetime) -> None:
        """The node of ``conn_id`` is gone (its presence expired): the booth dropped."""
        self._append(booking, {"e": "drop", "t": now, "b": booth, "c": conn_id})

    def restarted(self, base: int, now: datetime) -> None:
        """The log may have lost its newest entries (a crash): every room numbers on from
        ``base`` and the booths that resume are told to resynchronise."""
        self.seq_base = max(self.seq_base, base)
        for booking in list(self._rooms):
            self._append(booking, {"e": "jump", "t": now, "base": base})

    def forget_rooms(self, now: datetime) -> None:
        """The shared log lost every room (a new epoch): close every connection in a room, or
        whose join or resume was on its way through the lost log, with ``state_lost`` so the
        booths reconnect and join afresh; idle ones are unaffected."""
        for conn in list(self._conns.values()):
            if conn.booking is not None or conn.hello is not None or conn.joining is not None:
                self._refuse(conn.id, _STATE_LOST)
        for booking in list(self._rooms):
            self.actions.append(Watch(booking, False))
        self._rooms.clear()
        self._timers.clear()

    def appends_lost(self, conn_ids: Iterable[str]) -> None:
        """Entries these connections made never reached the shared log (it was unreachable):
        their booths are told ``state_lost``, never left waiting for a join, a resume or a
        partner's answer that cannot come."""
        for conn_id in dict.fromkeys(conn_ids):
            if conn_id in self._conns:
                self._refuse(conn_id, _STATE_LOST)

    # --- the log ----------------------------------------------------------------------------

    def apply(self, booking: int, entry: dict[str, Any]) -> None:
        """One entry of room ``booking``'s log, in log order (from any node, this one included)."""
        kind = entry["e"]
        if kind == "join":  # whatever the room makes of it, the join is no longer on its way
            joining = self._conns.get(entry["c"])
            if joining is not None and joining.joining == booking:
                joining.joining = None
        if kind == "open":
            if booking not in self._rooms:
                self._open(booking, entry)
            return
        room = self._rooms.get(booking)
        if room is None:
            return  # an entry for a room that is closed, or that this node does not follow
        origin = entry.get("c")
        try:
            if kind == "signal":
                self._apply_signal(room, entry)
                return
            if kind == "join":
                self._apply_join(room, entry)
            elif kind == "resume":
                self._apply_resume(room, entry)
            elif kind == "drop":
                member = room.member(entry["b"])
                if member is not None and member.state is MemberState.PRESENT and member.conn == origin:
                    room.disconnect(entry["b"], entry["t"])
            elif kind == "leave":
                self._apply_leave(room, entry)
            elif kind == "tick":
                room.handle_timer(entry["t"])
            elif kind == "change":
                self._apply_change(room, entry)
            elif kind == "jump":
                room.jump(entry["base"])
            elif kind == "kept":
                room.restore(entry)
        except ProtocolError as exc:
            if origin is not None and origin in self._conns:
                if exc.ref is None:
                    exc.ref = entry.get("i")
                self._refuse(origin, exc)
        self._after(room, entry["t"])

    def _append(self, booking: int, entry: dict[str, Any], *, if_open: bool = False) -> None:
        self.actions.append(Append(booking, entry, if_open))
        if self.local_log:
            self.apply(booking, entry)

    def _open(self, booking: int, entry: dict[str, Any]) -> None:
        booths = entry["booths"]
        floor = dict.fromkeys(booths, entry.get("base", 0))
        ended = self._ended.pop(booking, None)
        if ended is not None:
            for booth, seq in ended.last_seqs.items():
                floor[booth] = max(floor.get(booth, 0), seq)
        room = Room(
            booking,
            booths,
            entry["start"],
            entry["end"],
            entry["t"],
            ice_servers=self.ice_servers_for,
            seq_after=floor,
        )
        self._rooms[booking] = room
        if self.local_log:
            self._timers.add(booking)
        self.actions.append(Counted("room", "opened", booking))

    def _apply_signal(self, room: Room, entry: dict[str, Any]) -> None:
        send = self._relay(room, entry["b"], entry["c"], entry["w"], entry["t"])
        if send is not None:
            self.actions.append(send)

    def _relay(self, room: Room, booth: int, origin: str, wire: dict[str, Any], now: datetime) -> Send | None:
        """Relay a signal in its room: the partner's copy to send, if its connection is here."""
        try:
            delivery = room.relay(booth, wire, now, origin)
        except ProtocolError as exc:
            if origin in self._conns:
                if exc.ref is None:
                    exc.ref = wire.get("id")
                self._refuse(origin, exc)
                if room.closed:
                    self._after(room, now)
            return None
        if delivery is not None:
            target = room.member(delivery[0])
            if target is not None and target.conn in self._conns:
                return Send(target.conn, delivery[1])
        return None

    def _apply_join(self, room: Room, entry: dict[str, Any]) -> None:
        booth, origin, at = entry["b"], entry["c"], entry["t"]
        conn = self._conns.get(origin)
        if conn is not None and (
            self._local.get(booth) != origin or conn.booking not in (None, room.booking_id)
        ):
            return  # replaced, or moved to another room, while the entry travelled
        room.join(booth, at, conn=origin, resume_hash=entry.get("h"))
        if conn is not None:
            conn.booking = room.booking_id
            self._presence.enter_room(booth, room.booking_id)
            self._schedule_due.pop(booth, None)
            self._set_presence(booth, "in_room", room.booking_id, at)
            self.actions.append(MemberOf(booth, room.booking_id))
            if all(room.state_of(b) is MemberState.PRESENT for b in room.booth_ids):
                self.actions.append(Counted("joined", "all", room.booking_id))

    def _apply_resume(self, room: Room, entry: dict[str, Any]) -> None:
        booth, origin, at = entry["b"], entry["c"], entry["t"]
        conn = self._conns.get(origin)
        member = room.member(booth)
        hello = conn.hello if conn is not None else None
        ok = (
            member is not None
            and member.resume_hash is not None
            and member.resume_hash == entry["p"]
            and member.state is not MemberState.ABSENT
        )
        missed = []
        failure: ProtocolError | None = None
        if ok:
            try:
                missed = room.resume(booth, entry["s"], at, conn=origin, resume_hash=entry["h"])
            except ProtocolError as exc:
                failure = exc
        else:
            failure = ProtocolError("resume_failed", "unknown resume token")
        if conn is None or hello is None:
            return  # the socket closed before its resume came round; its drop follows in the log
        conn.hello = None
        if failure is not None:
            self._welcome(conn, hello, at, None)
            self._refuse(origin, ProtocolError("resume_failed", failure.message))
            self.actions.append(Counted("resume", "failed"))
            self._idle(conn, at)
            return
        replay_until = missed[-1].seq if missed else entry["s"]
        self._welcome(
            conn, hello, at, room, replay_until=replay_until, resync=room.has_gap(booth, entry["s"])
        )
        for message in missed:
            self.actions.append(Send(origin, message))
        conn.booking = room.booking_id
        self._presence.enter_room(booth, room.booking_id)
        self._set_presence(booth, "in_room", room.booking_id, at)
        self.actions.append(MemberOf(booth, room.booking_id))
        self.actions.append(Counted("resume", "ok"))

    def _apply_leave(self, room: Room, entry: dict[str, Any]) -> None:
        booth = entry["b"]
        member = room.member(booth)
        if member is None or member.conn != entry["c"]:
            if entry.get("i") is None:
                return  # a clean-up for a connection that is no longer the booth's
        room.leave(booth, entry["t"])
        self._left(room.booking_id, booth, entry["t"])

    def _apply_change(self, room: Room, entry: dict[str, Any]) -> None:
        kind, at = entry["k"], entry["t"]
        if kind == "cancelled":
            room.close(CloseReason.CANCELLED, at)
        elif kind == "extended":
            try:
                room.extend(entry["end"], at)
            except ProtocolError:
                pass  # the slot ended just now: the timer closes the room
        elif kind in ("moved", "shortened"):
            # The call as the booths joined it no longer exists: they go back to idle, and their
            # fresh schedule shows the new time. A room opened again numbers on.
            room.close(CloseReason.MOVED, at)

    def _after(self, room: Room, now: datetime) -> None:
        """Deliver what the room queued to this node's connections; follow a closed room out."""
        for booth, message in room.drain():
            member = room.member(booth)
            if member is not None and member.conn in self._conns:
                self.actions.append(Send(member.conn, message))
        if room.closed:
            booking = room.booking_id
            del self._rooms[booking]
            self._timers.discard(booking)
            assert room.close_reason is not None
            self._ended[booking] = _Ended(
                room.close_reason,
                frozenset(room.booth_ids),
                room.end,
                {b: room.last_seq(b) for b in room.booth_ids},
            )
            self.actions.append(Watch(booking, False))
            self.actions.append(Counted("room", "closed", booking))
            for conn in list(self._conns.values()):
                if conn.booking == booking:
                    self._left(booking, conn.booth, now)
                elif conn.hello is not None and conn.hello.resume_booking == booking:
                    pass  # its resume entry will find no room: it fails then

    def _left(self, booking: int, booth: int, now: datetime) -> None:
        """The booth is out of the room (left, or the room closed): idle again if connected here."""
        conn_id = self._local.get(booth)
        conn = self._conns.get(conn_id) if conn_id is not None else None
        if conn is not None and conn.booking == booking:
            conn.booking = None
            self._presence.leave_room(booth)
            self.actions.append(MemberOf(booth, None))
            self._idle(conn, now)

    # --- internals --------------------------------------------------------------------------

    def _welcome(
        self,
        conn: Conn,
        hello: Hello,
        now: datetime,
        room: Room | None,
        *,
        replay_until: int | None = None,
        resync: bool | None = None,
    ) -> None:
        valid_until = room.end if room is not None else now + IDLE_TURN_VALIDITY
        self.actions.append(
            Send(
                conn.id,
                Welcome(
                    version=PROTOCOL_VERSION,
                    booth_id=conn.booth,
                    session_token=hello.session_token,
                    session_expires_at=hello.session_expires_at,
                    resume_token=hello.resume_token,
                    resumed=room is not None,
                    server_time=now,
                    heartbeat_interval=max(1, math.ceil(self.timings.heartbeat_interval)),
                    idle_timeout=max(1, math.ceil(self.timings.idle_timeout)),
                    resume_grace=int(RESUME_GRACE.total_seconds()),
                    ice_servers=self._ice_servers(conn.booth, valid_until),
                    replay_until=replay_until,
                    resync=resync,
                ),
            )
        )

    def _idle(self, conn: Conn, now: datetime) -> None:
        self._set_presence(conn.booth, "idle", None, now)
        self.actions.append(PushSchedule(conn.booth))

    def _set_presence(self, booth: int, state: str, booking: int | None, now: datetime) -> None:
        self._since[booth] = now
        self.actions.append(PresenceChanged(booth, state, booking, now))

    def _replace(self, old_id: str, now: datetime) -> None:
        """A newer connection of the same booth took over: the old one is told and closed, and
        counts as gone from now (its partner sees it reconnecting until the new one joins)."""
        self._refuse(old_id, ProtocolError("replaced", "a newer connection of this booth took over"))
        self.closed(old_id, now)

    def _refuse(self, conn_id: str, exc: ProtocolError) -> None:
        self.actions.append(Send(conn_id, error_message(exc)))
        close_code = exc.spec.close_code
        if close_code is not None:
            self.actions.append(Close(conn_id, close_code, exc.code))

    def _check_in_room(self, conn: Conn, booking_id: int, ref: str | int | None) -> None:
        """Raise why ``conn`` cannot act in room ``booking_id``."""
        if conn.booking is not None and conn.booking != booking_id:
            raise ProtocolError(
                "wrong_room",
                f"this connection is in the room of booking {conn.booking}",
                path="/booking_id",
                ref=ref,
            )
        ended = self._ended.get(booking_id)
        if conn.booking is None and ended is not None and conn.booth in ended.booths:
            raise ProtocolError(ended.reason.value, f"the room of booking {booking_id} is closed", ref=ref)
        if conn.booking is None:
            raise ProtocolError("not_in_room", "join a room first", ref=ref)

    def _ice_servers(self, booth: int, valid_until: datetime) -> tuple[IceServer, ...]:
        if self.ice_servers_for is None:
            return ()
        return tuple(IceServer.from_dict(dict(s)) for s in self.ice_servers_for(booth, valid_until))


def _check_may_join(booking: BookingInfo, booth: int, now: datetime, ref: str | int | None) -> None:
    if booth not in booking.booth_ids:
        raise ProtocolError(
            "not_booked", f"booth {booth} is not booked in booking {booking.booking_id}", ref=ref
        )
    if booking.cancelled:
        raise ProtocolError("cancelled", f"booking {booking.booking_id} was cancelled", ref=ref)
    if now >= booking.end:
        raise ProtocolError(
            "slot_ended", f"booking {booking.booking_id} ended at {booking.end.isoformat()}", ref=ref
        )
    opens = booking.start - JOIN_OPENS_BEFORE_START
    if now < opens:
        raise ProtocolError("too_early", f"the room opens at {opens.isoformat()}", ref=ref)

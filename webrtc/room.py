"""The room of one booking: a sans-IO state machine, in the shape of h11 and aioquic.

Events come in as method calls with ``now`` (a UTC ``datetime``); what the booths must be
told is queued in :attr:`Room.outbox` as ``(booth_id, message)`` pairs, already numbered
with the recipient's ``seq``: typed :class:`~webrtc.messages.Sequenced` messages, and the
partner's signals as :class:`~webrtc.messages.Relayed` text (encoded once, sent as is).
No sockets, timers or clocks here: the I/O layer calls :meth:`Room.handle_timer` at
:meth:`Room.next_deadline` and sends what :meth:`Room.drain` returns. An event that is not
allowed raises :class:`~webrtc.errors.ProtocolError` and leaves the room exactly as it was.

The I/O layer's loop, in outline::

    room = Room(booking.id, booking.booth_ids, booking.start, booking.end, now,
                ice_servers=functools.partial(turn.ice_servers, turn_config))
    try:
        wire = messages.load(frame)
        if wire["type"] in messages.SIGNAL_TYPES:  # a call's traffic: schema check, no dataclass
            schema.validate(wire, "client", wire["type"])
            room.relay(booth_id, wire, now)
        else:
            room.receive(booth_id, messages.parse(wire), now)
    except ProtocolError as exc:
        send(booth_id, messages.error_message(exc)); close if exc.closes_connection
    for recipient, message in room.drain():
        send(recipient, message)
    schedule room.handle_timer at room.next_deadline()
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from webrtc.errors import ProtocolError
from webrtc.limits import COUNTDOWN_MARKS, HISTORY_LIMIT, JOIN_OPENS_BEFORE_START, RESUME_GRACE
from webrtc.messages import (
    SIGNAL_TYPES,
    ClientMessage,
    CloseReason,
    Countdown,
    Extended,
    IceServer,
    Join,
    Joined,
    Leave,
    PeerInfo,
    PeerState,
    PeerStatus,
    Relayed,
    Role,
    RoomClosed,
    Sequenced,
    Signal,
    decode,
    dump,
    encode,
    relayed,
)

Outgoing = Sequenced | Relayed
"""What a room sends a booth: a typed message, or a signal relayed from a partner."""

IceServersFor = Callable[[int, datetime], Sequence[Mapping[str, Any]]]
"""``(booth_id, valid_until) -> RTCIceServer dicts``, e.g. ``partial(turn.ice_servers, config)``."""


class MemberState(enum.Enum):
    """Where one booked booth stands in the room."""

    ABSENT = "absent"  # not joined yet, left, or did not come back in time
    PRESENT = "present"  # joined, with a live connection
    DISCONNECTED = "disconnected"  # its socket dropped; it may resume within RESUME_GRACE


class Event(enum.Enum):
    JOIN = "join"
    SIGNAL = "signal"  # offer, answer, candidate, ice_restart
    DISCONNECT = "disconnect"
    RESUME = "resume"
    LEAVE = "leave"
    GRACE_EXPIRED = "grace_expired"  # internal: raised by handle_timer only


_A, _P, _D = MemberState.ABSENT, MemberState.PRESENT, MemberState.DISCONNECTED

TRANSITIONS: Mapping[tuple[MemberState, Event], MemberState] = {
    (_A, Event.JOIN): _P,
    # A second join is a fresh start: a newer connection replaced the booth's old one, or
    # the booth came back without its resume token (kiosk page reloaded).
    (_P, Event.JOIN): _P,
    (_D, Event.JOIN): _P,
    (_P, Event.SIGNAL): _P,
    (_P, Event.DISCONNECT): _D,
    (_D, Event.RESUME): _P,
    # The new socket can arrive before the server has noticed that the old one is dead
    # (half-open TCP); resuming then is the same as a disconnect followed by a resume.
    (_P, Event.RESUME): _P,
    (_P, Event.LEAVE): _A,
    (_D, Event.LEAVE): _A,
    (_D, Event.GRACE_EXPIRED): _A,
}
"""Every allowed ``(state, event)``; any other pair is refused with :data:`REFUSALS` or ``not_in_room``."""

REFUSALS: Mapping[tuple[MemberState, Event], str] = {
    (_A, Event.RESUME): "resume_failed",
}

# Events that are requests for the call (rather than facts about a socket) need the slot open.
_NEED_OPEN_SLOT = frozenset({Event.JOIN, Event.SIGNAL, Event.RESUME})

_SEEN_AS = {_A: PeerState.WAITING, _P: PeerState.JOINED, _D: PeerState.RECONNECTING}


class Stream:
    """The messages one booth was sent in this room, numbered from 1, the last few kept."""

    def __init__(self, history_limit: int = HISTORY_LIMIT) -> None:
        self.last_seq = 0
        self.history: deque[Outgoing] = deque(maxlen=history_limit)
        #: After a restart that may have lost the last messages (a crash of the one embedded
        #: process): numbering jumped to here, and a booth that had not reached it has a gap.
        self.jumped_to: int | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and (self.last_seq, list(self.history)) == (
            other.last_seq,
            list(other.history),
        )

    def number(self, message: Sequenced) -> Sequenced:
        """Give ``message`` the next seq and keep it for replay."""
        numbered = _with_seq(message, self.last_seq + 1)
        self.keep(numbered)
        return numbered

    def keep(self, message: Outgoing) -> None:
        """Keep a message numbered ``last_seq + 1`` for replay."""
        assert message.seq == self.last_seq + 1, (message.seq, self.last_seq)
        self.last_seq = message.seq
        self.history.append(message)

    def since(self, last_seq: int) -> list[Outgoing]:
        """Everything after ``last_seq``; ``resume_failed`` if some of it is no longer kept
        (a gap from a restart is not refused: :meth:`has_gap_after` tells it)."""
        if last_seq > self.last_seq:
            raise ProtocolError(
                "resume_failed", f"last_seq {last_seq} is ahead of the server's {self.last_seq}"
            )
        kept = [m for m in self.history if m.seq > last_seq]
        first = kept[0].seq if kept else self.last_seq + 1
        if first != last_seq + 1 and not self.has_gap_after(last_seq):
            raise ProtocolError("resume_failed", f"messages after seq {last_seq} are no longer kept")
        return kept

    def has_gap_after(self, last_seq: int) -> bool:
        """Whether messages after ``last_seq`` may have been lost in a restart."""
        return self.jumped_to is not None and last_seq < self.jumped_to

    def jump(self, base: int) -> None:
        """Number on from ``base`` at least: the messages after ``last_seq`` may be lost, and seq
        values must never be reused, so the stream skips past any of them."""
        if base > self.last_seq:
            self.last_seq = base
        self.jumped_to = self.last_seq

    def kept(self) -> list[Any]:
        """The stream as JSON: its numbering and every kept message in its wire form."""
        return [
            self.last_seq,
            self.jumped_to,
            [[m.type, m.seq, m.text if isinstance(m, Relayed) else encode(m)] for m in self.history],
        ]

    def restore(self, kept: list[Any]) -> None:
        """Become the stream :meth:`kept` described."""
        self.last_seq, self.jumped_to, messages = kept
        self.history.clear()
        self.history.extend(_restored(*message) for message in messages)


def _restored(message_type: str, seq: int, text: str) -> Outgoing:
    if message_type in SIGNAL_TYPES:
        return Relayed(message_type, seq, text.encode())
    message = decode(text, origin="server")
    assert isinstance(message, Sequenced) and message.seq == seq, (message, seq)
    return message


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _with_seq(message: Sequenced, seq: int) -> Sequenced:
    """``dataclasses.replace(message, seq=seq)``, for every relayed message: a copy of the
    frozen message, field by field, without ``replace``'s per-call introspection."""
    copy = object.__new__(type(message))
    for name in _field_names(type(message)):
        object.__setattr__(copy, name, getattr(message, name))
    object.__setattr__(copy, "seq", seq)
    return copy


@dataclass
class Member:
    stream: Stream
    state: MemberState = MemberState.ABSENT
    disconnected_at: datetime | None = None
    #: The connection the booth is in the room with (None in the pure tests): a drop reported
    #: for an older connection of the booth changes nothing.
    conn: str | None = None
    #: The hash of that connection's resume token: a new connection that presents the token
    #: (on any node) takes the booth's place in the room.
    resume_hash: str | None = None


@dataclass
class _Pending:
    """Offers relayed and not answered yet, as ``(offerer, answerer)`` pairs."""

    offers: set[tuple[int, int]] = field(default_factory=set)

    def forget(self, booth_id: int) -> None:
        self.offers = {pair for pair in self.offers if booth_id not in pair}


class Room:
    """The signalling room of one booking, holding exactly its booked booths.

    ``booth_ids`` is in booking order: towards each peer, the booth that comes first is
    ``impolite`` (it makes the first offer and wins collisions), the other ``polite``.
    """

    def __init__(
        self,
        booking_id: int,
        booth_ids: Sequence[int],
        start: datetime,
        end: datetime,
        now: datetime,
        *,
        ice_servers: IceServersFor | None = None,
        history_limit: int = HISTORY_LIMIT,
        seq_after: Mapping[int, int] | None = None,
    ) -> None:
        if len(booth_ids) < 2 or len(set(booth_ids)) != len(booth_ids):
            raise ValueError("a room holds two or more distinct booths")
        for moment in (start, end, now):
            if moment.utcoffset() is None:
                raise ValueError("the room works on timezone-aware datetimes")
        if end <= start:
            raise ValueError("a booking ends after it starts")
        self.booking_id = booking_id
        self.booth_ids = tuple(booth_ids)
        self.start = start
        self.end = end
        self.close_reason: CloseReason | None = None
        self._ice_servers_for = ice_servers
        self._members = {booth: Member(Stream(history_limit)) for booth in self.booth_ids}
        # A booking whose room was closed and opened again (it was moved) keeps numbering on:
        # seq values are never reused within one booking.
        for booth, seq in (seq_after or {}).items():
            if booth in self._members:
                self._members[booth].stream.last_seq = seq
        self._pending = _Pending()
        self._marks = self._countdowns_after(now)
        self._outbox: list[tuple[int, Outgoing]] = []
        # The partner of each booth when there are exactly two: a signal may leave out ``to``.
        self._partner: dict[int, int] = (
            {booth_ids[0]: booth_ids[1], booth_ids[1]: booth_ids[0]} if len(booth_ids) == 2 else {}
        )

    # --- queries -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    @property
    def join_opens_at(self) -> datetime:
        return self.start - JOIN_OPENS_BEFORE_START

    def state_of(self, booth_id: int) -> MemberState:
        """Where a booked booth stands; ``KeyError`` for a booth that is not booked."""
        return self._members[booth_id].state

    def member(self, booth_id: int) -> Member | None:
        """The record of a booked booth (None for any other booth)."""
        return self._members.get(booth_id)

    def has_gap(self, booth_id: int, last_seq: int) -> bool:
        """Whether ``booth_id`` may have lost messages after ``last_seq`` in a restart."""
        return self._members[booth_id].stream.has_gap_after(last_seq)

    def role(self, booth_id: int, peer_id: int) -> Role:
        """``booth_id``'s role towards ``peer_id``: the one earlier in booking order is impolite."""
        order = self.booth_ids.index
        return Role.IMPOLITE if order(booth_id) < order(peer_id) else Role.POLITE

    def last_seq(self, booth_id: int) -> int:
        """The seq of the last message numbered for ``booth_id``."""
        return self._members[booth_id].stream.last_seq

    @property
    def outbox(self) -> tuple[tuple[int, Outgoing], ...]:
        """Messages waiting to be sent, in order; only for booths that are present."""
        return tuple(self._outbox)

    def drain(self) -> list[tuple[int, Outgoing]]:
        """Take every queued ``(booth_id, message)``; send them in this order."""
        out, self._outbox = self._outbox, []
        return out

    def next_deadline(self) -> datetime | None:
        """When :meth:`handle_timer` must run next (countdown, resume grace, slot end)."""
        if self.closed:
            return None
        deadlines = [self.end, *(self.end - mark for mark in self._marks)]
        deadlines += [
            m.disconnected_at + RESUME_GRACE
            for m in self._members.values()
            if m.state is _D and m.disconnected_at is not None
        ]
        return min(deadlines)

    # --- events from a booth --------------------------------------------------------------

    def join(
        self, booth_id: int, now: datetime, *, conn: str | None = None, resume_hash: str | None = None
    ) -> None:
        """The booth enters the room (afresh, if it was already in), on connection ``conn``."""
        member = self._allow(booth_id, Event.JOIN, now)
        if now < self.join_opens_at:
            raise ProtocolError("too_early", f"the room opens at {self.join_opens_at.isoformat()}")
        ice_servers = self._ice_servers(booth_id, self.end)  # before any change: it is outside code
        self._drop_queued(booth_id)  # left over for a replaced connection
        member.state, member.disconnected_at = _P, None
        member.conn, member.resume_hash = conn, resume_hash
        self._pending.forget(booth_id)  # its new peer connection knows nothing of old offers
        others = [b for b in self.booth_ids if b != booth_id]
        self._send(
            booth_id,
            Joined(
                booking_id=self.booking_id,
                booth_id=booth_id,
                start=self.start,
                end=self.end,
                peers=tuple(PeerInfo(booth_id=b, role=self.role(booth_id, b)) for b in others),
                ice_servers=ice_servers,
            ),
        )
        for other in others:
            self._send(booth_id, self._status(other, _SEEN_AS[self._members[other].state]))
        self._tell_peers(booth_id, PeerState.JOINED)

    def receive(self, booth_id: int, message: ClientMessage, now: datetime) -> None:
        """A parsed client message for this room: join, leave, or a signal to relay."""
        if not isinstance(message, Join | Leave | Signal):
            raise ProtocolError("unexpected_message", f"{message.type} is not a room message", ref=message.id)
        try:
            if isinstance(message, Signal):
                delivery = self.relay(booth_id, dump(message), now)
                if delivery is not None:
                    self._outbox.append(delivery)
                return
            if message.booking_id != self.booking_id:
                raise self._wrong_room()
            if isinstance(message, Join):
                self.join(booth_id, now)
            else:
                self.leave(booth_id, now)
        except ProtocolError as exc:
            exc.ref = message.id
            raise

    def relay(
        self, booth_id: int, wire: dict[str, Any], now: datetime, conn: str | None = None
    ) -> tuple[int, Relayed] | None:
        """Pass a signal on to its partner: ``wire`` is an offer, answer, candidate or
        ice_restart as it came from the booth, a dict that passed its JSON Schema.

        This is the server's path for a call's traffic: the signal is never built into typed
        messages, and the partner's copy is encoded once, here (:func:`webrtc.messages.relayed`).
        ``conn``, when given, is the connection the signal came on: a signal from any other
        connection of the booth (one it replaced) is refused.
        Returns ``(recipient, message)`` to send now, or None while the recipient is
        reconnecting (it gets the message from the history when it resumes). The message is
        returned rather than queued, to be sent right after what :meth:`drain` gave before;
        :meth:`receive` queues it instead.
        """
        if wire["booking_id"] != self.booking_id:
            raise self._wrong_room()
        member = self._members.get(booth_id)
        if self.close_reason is not None or member is None or member.state is not _P or now >= self.end:
            self._allow(booth_id, Event.SIGNAL, now)  # one of its refusals applies: it raises
        if conn is not None and member.conn != conn:  # type: ignore[union-attr]
            raise ProtocolError("not_in_room", "this connection is no longer the booth's connection")
        to = wire.get("to")
        target = self._partner.get(booth_id) if to is None else None
        if target is None:
            target = self._recipient(booth_id, None if to is None else int(to))
        receiver = self._members[target]
        if receiver.state is _A:
            raise ProtocolError("peer_absent", f"booth {target} is not in the room")
        message_type = wire["type"]
        if message_type == "answer":
            if (target, booth_id) not in self._pending.offers:
                raise ProtocolError("unexpected_answer", f"booth {target} has no offer waiting for an answer")
            self._pending.offers.discard((target, booth_id))
        elif message_type == "offer":
            self._pending.offers.add((booth_id, target))
        stream = receiver.stream
        message = relayed(wire, self.booking_id, booth_id, stream.last_seq + 1)
        stream.keep(message)
        return (target, message) if receiver.state is _P else None

    def disconnect(self, booth_id: int, now: datetime) -> None:
        """The booth's current socket dropped: its partners see ``reconnecting`` for up to 30 s."""
        member = self._allow(booth_id, Event.DISCONNECT, now)
        self._drop_queued(booth_id)  # nothing to send them on; they stay in the history
        member.state, member.disconnected_at = _D, now
        self._tell_peers(booth_id, PeerState.RECONNECTING)

    def resume(
        self,
        booth_id: int,
        last_seq: int,
        now: datetime,
        *,
        conn: str | None = None,
        resume_hash: str | None = None,
    ) -> list[Outgoing]:
        """The booth is back with its resume token: the messages after ``last_seq``, to send first."""
        member = self._allow(booth_id, Event.RESUME, now)
        missed = member.stream.since(last_seq)
        was = member.state
        self._drop_queued(booth_id)  # they are in ``missed`` (or were delivered)
        member.state, member.disconnected_at = _P, None
        member.conn, member.resume_hash = conn, resume_hash
        if was is _D:
            self._tell_peers(booth_id, PeerState.BACK)
        return missed

    def leave(self, booth_id: int, now: datetime) -> None:
        """The booth leaves for good (it may still join again before the end)."""
        member = self._allow(booth_id, Event.LEAVE, now)
        self._drop_queued(booth_id)
        member.state, member.disconnected_at, member.conn = _A, None, None
        self._pending.forget(booth_id)
        self._tell_peers(booth_id, PeerState.LEFT)

    # --- events from staff and the clock --------------------------------------------------

    def extend(self, new_end: datetime, now: datetime) -> None:
        """Staff moved the end later: booths get ``extended`` with fresh ICE credentials."""
        self._refuse_if_closed()
        if now >= self.end:
            raise ProtocolError("slot_ended", "the booking is over; it cannot be extended")
        if new_end <= self.end:
            raise ProtocolError("invalid_extension", f"the new end must be after {self.end.isoformat()}")
        ice_servers = {booth: self._ice_servers(booth, new_end) for booth in self._reachable()}
        self.end = new_end
        self._marks = self._countdowns_after(now)
        for booth, servers in ice_servers.items():
            self._send(booth, Extended(booking_id=self.booking_id, end=new_end, ice_servers=servers))

    def kept(self) -> dict[str, Any]:
        """What the room's signals changed, as JSON: every booth's stream (its numbering and
        the messages kept for replay) and the offers waiting for an answer. A log that does not
        carry the signals themselves (the embedded default's) records this instead."""
        return {
            "streams": [[booth, member.stream.kept()] for booth, member in self._members.items()],
            "offers": sorted(self._pending.offers),
        }

    def restore(self, kept: Mapping[str, Any]) -> None:
        """Take back what :meth:`kept` recorded, over what replaying the rest of the log built."""
        for booth, stream in kept["streams"]:
            member = self._members.get(booth)
            if member is not None:
                member.stream.restore(stream)
        self._pending.offers = {(offerer, answerer) for offerer, answerer in kept["offers"]}

    def jump(self, base: int) -> None:
        """After a restart that may have lost the newest messages: every booth's numbering
        skips to ``base`` at least (see :meth:`Stream.jump`)."""
        for member in self._members.values():
            member.stream.jump(base)

    def close(self, reason: CloseReason, now: datetime) -> None:
        """Close the room before its end (staff cancelled the booking)."""
        self._refuse_if_closed()
        self._close(reason)

    def handle_timer(self, now: datetime) -> None:
        """Do what is due at ``now``: resume graces, countdowns, the slot end. Safe to call early."""
        if self.closed:
            return
        for booth, member in self._members.items():
            if (
                member.state is _D
                and member.disconnected_at is not None
                and member.disconnected_at + RESUME_GRACE <= now
            ):
                self._allow(booth, Event.GRACE_EXPIRED, now)
                member.state, member.disconnected_at, member.conn = _A, None, None
                self._pending.forget(booth)
                self._tell_peers(booth, PeerState.LEFT)
        if now >= self.end:
            self._close(CloseReason.SLOT_ENDED)
            return
        due = [mark for mark in self._marks if self.end - mark <= now]
        if due:
            # A late timer sends one countdown with the true remaining time, not one per mark.
            self._marks = [mark for mark in self._marks if mark not in due]
            remaining = math.ceil((self.end - now).total_seconds())
            for booth in self._reachable():
                self._send(
                    booth, Countdown(booking_id=self.booking_id, remaining_seconds=remaining, end=self.end)
                )

    # --- internals -----------------------------------------------------------------------

    def _allow(self, booth_id: int, event: Event, now: datetime) -> Member:
        """The booth's member record if ``event`` is allowed now; raise otherwise. Mutates nothing."""
        self._refuse_if_closed()
        member = self._members.get(booth_id)
        if member is None:
            raise ProtocolError("not_booked", f"booth {booth_id} is not booked in booking {self.booking_id}")
        if event in _NEED_OPEN_SLOT and now >= self.end:
            raise ProtocolError("slot_ended", f"booking {self.booking_id} ended at {self.end.isoformat()}")
        if (member.state, event) not in TRANSITIONS:
            code = REFUSALS.get((member.state, event), "not_in_room")
            raise ProtocolError(code, f"booth {booth_id} is {member.state.value}; it cannot {event.value}")
        return member

    def _refuse_if_closed(self) -> None:
        if self.close_reason is not None:
            raise ProtocolError(self.close_reason.value, f"the room of booking {self.booking_id} is closed")

    def _wrong_room(self) -> ProtocolError:
        return ProtocolError(
            "wrong_room", f"this connection is in the room of booking {self.booking_id}", path="/booking_id"
        )

    def _recipient(self, booth_id: int, to: int | None) -> int:
        if to is None:
            if len(self.booth_ids) != 2:
                raise ProtocolError(
                    "invalid_message", "this room has more than two booths: name one in `to`", path="/to"
                )
            return self._partner[booth_id]
        if to == booth_id:
            raise ProtocolError("invalid_message", "a booth cannot signal itself", path="/to")
        if to not in self._members:
            raise ProtocolError(
                "not_booked", f"booth {to} is not booked in booking {self.booking_id}", path="/to"
            )
        return to

    def _close(self, reason: CloseReason) -> None:
        for booth in self._reachable():
            self._send(booth, RoomClosed(booking_id=self.booking_id, reason=reason))
        self.close_reason = reason
        self._marks = []
        self._pending = _Pending()
        for member in self._members.values():
            member.state, member.disconnected_at = _A, None  # conn stays: room_closed goes there

    def _countdowns_after(self, now: datetime) -> list[timedelta]:
        # Marks already behind us are not announced late: ``joined`` and ``extended`` carry the end.
        return sorted((mark for mark in COUNTDOWN_MARKS if self.end - mark >= now), reverse=True)

    def _ice_servers(self, booth_id: int, valid_until: datetime) -> tuple[IceServer, ...]:
        if self._ice_servers_for is None:
            return ()
        return tuple(IceServer.from_dict(dict(s)) for s in self._ice_servers_for(booth_id, valid_until))

    def _status(self, peer: int, state: PeerState) -> PeerStatus:
        return PeerStatus(booking_id=self.booking_id, peer=peer, state=state)

    def _tell_peers(self, booth_id: int, state: PeerState) -> None:
        for other in self._reachable(excluding=booth_id):
            self._send(other, self._status(booth_id, state))

    def _reachable(self, excluding: int | None = None) -> list[int]:
        """Booths that are in the room, connected or inside their resume grace."""
        return [b for b, m in self._members.items() if m.state is not _A and b != excluding]

    def _send(self, booth_id: int, message: Sequenced) -> None:
        member = self._members[booth_id]
        numbered = member.stream.number(message)
        if member.state is _P:
            self._outbox.append((booth_id, numbered))

    def _drop_queued(self, booth_id: int) -> None:
        self._outbox = [(b, m) for b, m in self._outbox if b != booth_id]

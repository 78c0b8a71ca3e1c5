"""In-memory booths for room tests: the aioquic ``transfer()`` idea without sockets.

Every message a room emits goes through ``encode`` and ``decode(origin="server")`` on its
way to a fake booth (a relayed signal, already text, through ``decode``), so each one is
checked against the server-side JSON Schemas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from webrtc.messages import (
    Answer,
    Candidate,
    ClientMessage,
    IceCandidate,
    Joined,
    Message,
    Offer,
    PeerAnswer,
    PeerCandidate,
    PeerIceRestart,
    PeerOffer,
    PeerState,
    PeerStatus,
    Relayed,
    Role,
    Sequenced,
    decode,
    encode,
)
from webrtc.room import Room

T0 = datetime(2025, 6, 12, 15, 0, tzinfo=UTC)  # 17:00 in Paris, 08:00 in San Francisco
START = T0
END = T0 + timedelta(hours=1)
BOOKING = 42
PARIS, SF = 1, 2
SDP_OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
SDP_ANSWER = "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@dataclass
class FakeBooth:
    """What one booth has received, as it would see it on the wire."""

    booth_id: int
    inbox: list[Sequenced] = field(default_factory=list)
    last_seq: int = 0

    def deliver(self, message: Sequenced | Relayed) -> Sequenced:
        """Take one message as the booth would read it off the wire; returns the typed message."""
        if isinstance(message, Relayed):  # a partner's signal, relayed as encoded text
            wire = message.message()
            assert encode(wire) == message.text, (wire, message.text)  # the canonical encoding
            assert wire.seq == message.seq and wire.type == message.type
        else:
            decoded = decode(encode(message), origin="server")
            assert decoded == message and isinstance(decoded, Sequenced), (decoded, message)
            wire = decoded
        assert isinstance(wire, Sequenced)
        # Seqs arrive without gaps or repeats: that is what makes resume exact. Only a fresh
        # ``joined`` may skip what was queued for a connection it replaced.
        expected = wire.seq > self.last_seq if isinstance(wire, Joined) else wire.seq == self.last_seq + 1
        assert expected, f"booth {self.booth_id}: seq {wire.seq} after {self.last_seq}"
        self.last_seq = wire.seq
        self.inbox.append(wire)
        return wire

    def take(self) -> list[Sequenced]:
        out, self.inbox = self.inbox, []
        return out

    def types(self) -> list[str]:
        return [m.type for m in self.inbox]


def transfer(room: Room, *booths: FakeBooth) -> None:
    """Deliver everything the room queued to the fake booths it is addressed to."""
    by_id = {b.booth_id: b for b in booths}
    for booth_id, message in room.drain():
        by_id[booth_id].deliver(message)


def summary(messages: Sequence[Sequenced | Relayed]) -> list[tuple[Any, ...]]:
    """Compact ``(seq, type, detail)`` rows for exact assertions."""
    rows: list[tuple[Any, ...]] = []
    for m in (m.message() if isinstance(m, Relayed) else m for m in messages):
        detail = {
            k: v
            for k, v in vars_of(m).items()
            if k in ("peer", "state", "sender", "remaining_seconds", "reason")
        }
        rows.append((m.seq, m.type, detail))
    return rows


def vars_of(message: Message) -> dict[str, Any]:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}


CREATED = START - timedelta(minutes=10)


def new_room(now: datetime = CREATED, booths: tuple[int, ...] = (PARIS, SF), **kwargs: Any) -> Room:
    """The room of booking 42 (Paris first, so Paris is impolite), created 10 minutes before."""
    return Room(BOOKING, booths, START, END, now, **kwargs)


@dataclass
class NegotiatingBooth(FakeBooth):
    """A booth that follows perfect negotiation just far enough to drive a room by itself.

    It offers when it is impolite and its partner joins, answers offers (rolling back its own
    on a collision when polite, ignoring the other's when impolite), trickles two candidates
    and an end-of-candidates after each local description, and restarts ICE when asked.
    """

    role: Role | None = None
    making_offer: bool = False
    remote_sdp: str | None = None
    remote_candidates: list[IceCandidate | None] = field(default_factory=list)
    ignored_offers: int = 0
    outgoing: list[ClientMessage] = field(default_factory=list)

    def deliver(self, message: Sequenced | Relayed) -> Sequenced:
        message = super().deliver(message)
        if isinstance(message, Joined):
            self.role = message.peers[0].role
        elif (
            isinstance(message, PeerStatus)
            and message.state is PeerState.JOINED
            and self.role is Role.IMPOLITE
        ):
            self.offer()
        elif isinstance(message, PeerOffer):
            if self.making_offer and self.role is Role.IMPOLITE:
                self.ignored_offers += 1  # collision: the impolite side keeps its own offer
                return message
            self.making_offer = False  # polite: roll back and answer
            self.remote_sdp = message.sdp
            self.outgoing.append(Answer(booking_id=BOOKING, sdp=SDP_ANSWER))
            self.trickle()
        elif isinstance(message, PeerAnswer):
            self.making_offer = False
            self.remote_sdp = message.sdp
        elif isinstance(message, PeerCandidate):
            self.remote_candidates.append(message.candidate)
        elif isinstance(message, PeerIceRestart) and self.role is Role.IMPOLITE:
            self.offer()
        return message

    def offer(self) -> None:
        self.making_offer = True
        self.outgoing.append(Offer(booking_id=BOOKING, sdp=SDP_OFFER))
        self.trickle()

    def trickle(self) -> None:
        for port in (54400, 54401):
            line = f"candidate:{port} 1 udp 2122260223 192.0.2.{self.booth_id} {port} typ host"
            self.outgoing.append(
                Candidate(booking_id=BOOKING, candidate=IceCandidate(candidate=line, sdp_mid="0"))
            )
        self.outgoing.append(Candidate(booking_id=BOOKING, candidate=None))


def pump(room: Room, booths: list[NegotiatingBooth], now: datetime, rounds: int = 20) -> None:
    """Shuttle messages both ways until nobody has anything left to say."""
    for _ in range(rounds):
        transfer(room, *booths)
        sent = False
        for booth in booths:
            outgoing, booth.outgoing = booth.outgoing, []
            for message in outgoing:
                room.receive(booth.booth_id, message, now)
                sent = True
        if not sent and not room.outbox:
            return
    raise AssertionError("the booths never went quiet")

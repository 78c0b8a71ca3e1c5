"""One example of every message shape, shared by the message and contract tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from webrtc.messages import (
    Answer,
    Candidate,
    CloseReason,
    Countdown,
    ErrorMessage,
    Extended,
    Hello,
    IceCandidate,
    IceRestart,
    IceServer,
    Join,
    Joined,
    Leave,
    Message,
    Offer,
    Partner,
    PeerAnswer,
    PeerCandidate,
    PeerIceRestart,
    PeerInfo,
    PeerOffer,
    PeerState,
    PeerStatus,
    Ping,
    Pong,
    Role,
    RoomClosed,
    Schedule,
    ScheduledBooking,
    ServerGoingAway,
    Welcome,
)

T = datetime(2025, 6, 12, 15, 0, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))
SF_SUMMER = timezone(timedelta(hours=-7))
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
KEY = "dk_9hQm2tWc4VbX7sLp0aZr"
CAND = IceCandidate(
    candidate="candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host",
    sdp_mid="0",
    sdp_mline_index=0,
    username_fragment="abcd",
)
TURN = IceServer(urls=("turns:turn.example.org:443?transport=tcp",), username="1749744000:1", credential="x")
STUN = IceServer(urls=("stun:turn.example.org:3478",))

EXAMPLES: list[Message] = [
    Hello(version=1, device_key=KEY),
    Hello(id="h1", version=1, session_token=KEY, resume_token=KEY + "r", last_seq=17, client="kiosk/1.0"),
    Join(id=7, booking_id=42),
    Leave(booking_id=42),
    Offer(id="o1", booking_id=42, sdp=SDP),
    Offer(booking_id=42, to=2, sdp=SDP),
    Answer(booking_id=42, sdp=SDP),
    Candidate(booking_id=42, candidate=CAND),
    Candidate(booking_id=42, candidate=IceCandidate(candidate="", sdp_mid="0")),
    Candidate(booking_id=42, candidate=None),
    IceRestart(booking_id=42, to=1),
    Ping(id=99),
    Welcome(
        version=1,
        booth_id=1,
        session_token=KEY,
        session_expires_at=T,
        resume_token=KEY + "r",
        resumed=False,
        server_time=T,
        heartbeat_interval=20,
        idle_timeout=45,
        resume_grace=30,
        ice_servers=(STUN, TURN),
    ),
    Schedule(booth_id=1, timezone="Europe/Paris", generated_at=T, bookings=()),
    Schedule(
        booth_id=1,
        timezone="Europe/Paris",
        generated_at=T,
        bookings=(
            ScheduledBooking(
                booking_id=42,
                start=T,
                end=T + timedelta(hours=1),
                local_start=T.astimezone(PARIS_SUMMER),
                local_end=(T + timedelta(hours=1)).astimezone(PARIS_SUMMER),
                join_opens_at=T - timedelta(minutes=5),
                partners=(
                    Partner(
                        booth_id=2,
                        name="Mission booth",
                        city="San Francisco",
                        timezone="America/Los_Angeles",
                        local_start=T.astimezone(SF_SUMMER),
                        local_end=(T + timedelta(hours=1)).astimezone(SF_SUMMER),
                    ),
                ),
            ),
        ),
    ),
    Joined(
        seq=1,
        booking_id=42,
        booth_id=1,
        start=T,
        end=T + timedelta(hours=1),
        peers=(PeerInfo(booth_id=2, role=Role.IMPOLITE),),
        ice_servers=(TURN,),
    ),
    PeerStatus(seq=2, booking_id=42, peer=2, state=PeerState.WAITING),
    PeerOffer(seq=3, booking_id=42, sender=2, sdp=SDP),
    PeerAnswer(seq=4, booking_id=42, sender=2, sdp=SDP),
    PeerCandidate(seq=5, booking_id=42, sender=2, candidate=CAND),
    PeerCandidate(seq=6, booking_id=42, sender=2, candidate=None),
    PeerIceRestart(seq=7, booking_id=42, sender=2),
    Countdown(seq=8, booking_id=42, remaining_seconds=300, end=T),
    Extended(seq=9, booking_id=42, end=T, ice_servers=()),
    RoomClosed(seq=10, booking_id=42, reason=CloseReason.SLOT_ENDED),
    ErrorMessage(code="too_early", message="the room opens at 14:55Z", ref="j1"),
    ErrorMessage(code="invalid_message", message="bad", path="/candidate/sdpMid"),
    Pong(ref=99),
    Pong(),
    ServerGoingAway(retry_after=5),
]

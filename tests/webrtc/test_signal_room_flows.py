"""Two in-memory booths through whole sessions: join, negotiate, countdown, end, resume."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest

from tests.webrtc.signal_helpers import (
    BOOKING,
    END,
    PARIS,
    SDP_ANSWER,
    SDP_OFFER,
    SF,
    START,
    FakeBooth,
    NegotiatingBooth,
    minutes,
    new_room,
    pump,
    summary,
    transfer,
)
from webrtc.errors import ProtocolError
from webrtc.limits import RESUME_GRACE
from webrtc.messages import (
    Answer,
    Candidate,
    CloseReason,
    IceCandidate,
    IceRestart,
    Join,
    Joined,
    Leave,
    Offer,
    PeerCandidate,
    PeerOffer,
    PeerState,
    Ping,
    Relayed,
    Role,
)
from webrtc.room import MemberState, Room
from webrtc.turn import TurnConfig, ice_servers

HOST = IceCandidate(
    candidate="candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", sdp_mid="0", sdp_mline_index=0
)
RELAY = IceCandidate(candidate="candidate:2 1 udp 41885439 203.0.113.9 3478 typ relay", sdp_mid="0")
WAITING, JOINED, RECONNECTING, BACK, LEFT = (
    PeerState.WAITING,
    PeerState.JOINED,
    PeerState.RECONNECTING,
    PeerState.BACK,
    PeerState.LEFT,
)


def both_in(room: Room | None = None) -> tuple[Room, FakeBooth, FakeBooth]:
    room = room or new_room()
    paris, sf = FakeBooth(PARIS), FakeBooth(SF)
    room.join(PARIS, START - minutes(5))
    room.join(SF, START - minutes(1))
    transfer(room, paris, sf)
    paris.take()
    sf.take()
    return room, paris, sf


def test_join_roles_offer_answer_trickle_end_of_candidates_ice_restart() -> None:
    config = TurnConfig.for_host("turn.example.org", "s3cret")
    room = new_room(ice_servers=functools.partial(ice_servers, config))
    paris, sf = FakeBooth(PARIS), FakeBooth(SF)
    now = START - minutes(5)

    room.join(PARIS, now)  # the waiting room: its partner has not arrived
    transfer(room, paris, sf)
    assert summary(paris.inbox) == [(1, "joined", {}), (2, "peer_status", {"peer": SF, "state": WAITING})]
    joined = paris.take()[0]
    assert isinstance(joined, Joined)
    assert [(p.booth_id, p.role) for p in joined.peers] == [
        (SF, Role.IMPOLITE)
    ]  # first in booking order offers
    assert joined.ice_servers[1].username == f"{int((END + config.margin).timestamp())}:{PARIS}"
    assert sf.inbox == []

    room.join(SF, now + minutes(3))
    transfer(room, paris, sf)
    sf_joined = sf.inbox[0]
    assert isinstance(sf_joined, Joined) and sf_joined.peers[0].role is Role.POLITE
    assert summary(sf.take()) == [(1, "joined", {}), (2, "peer_status", {"peer": PARIS, "state": JOINED})]
    assert summary(paris.take()) == [(3, "peer_status", {"peer": SF, "state": JOINED})]

    # Negotiation, relayed as is with the sender named.
    room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), now)
    room.receive(SF, Answer(booking_id=BOOKING, sdp=SDP_ANSWER), now)
    room.receive(PARIS, Candidate(booking_id=BOOKING, candidate=HOST), now)
    room.receive(SF, Candidate(booking_id=BOOKING, candidate=RELAY), now)
    room.receive(PARIS, Candidate(booking_id=BOOKING, candidate=None), now)  # end of candidates
    room.receive(SF, Candidate(booking_id=BOOKING, candidate=None), now)
    transfer(room, paris, sf)
    assert summary(sf.inbox) == [
        (3, "offer", {"sender": PARIS}),
        (4, "candidate", {"sender": PARIS}),
        (5, "candidate", {"sender": PARIS}),
    ]
    assert isinstance(sf.inbox[0], PeerOffer) and sf.inbox[0].sdp == SDP_OFFER
    assert [m.candidate for m in sf.take()[1:] if isinstance(m, PeerCandidate)] == [HOST, None]
    assert summary(paris.inbox) == [
        (4, "answer", {"sender": SF}),
        (5, "candidate", {"sender": SF}),
        (6, "candidate", {"sender": SF}),
    ]
    paris.take()

    # The polite side asks; the impolite side restarts ICE with a new offer.
    room.receive(SF, IceRestart(booking_id=BOOKING), now)
    transfer(room, paris, sf)
    assert summary(paris.take()) == [(7, "ice_restart", {"sender": SF})]
    room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), now)
    room.receive(SF, Answer(booking_id=BOOKING, sdp=SDP_ANSWER), now)
    transfer(room, paris, sf)
    assert summary(sf.take()) == [(6, "offer", {"sender": PARIS})]
    assert summary(paris.take()) == [(8, "answer", {"sender": SF})]


def test_offer_collision_is_relayed_and_the_polite_answer_is_accepted() -> None:
    room, paris, sf = both_in()
    room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)
    room.receive(SF, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)  # glare: both offer
    room.receive(SF, Answer(booking_id=BOOKING, sdp=SDP_ANSWER), START)  # polite rolled back and answers
    with pytest.raises(ProtocolError) as caught:
        room.receive(SF, Answer(id="a2", booking_id=BOOKING, sdp=SDP_ANSWER), START)  # nothing left to answer
    assert (caught.value.code, caught.value.ref) == ("unexpected_answer", "a2")
    transfer(room, paris, sf)
    assert [m.type for m in paris.inbox] == ["offer", "answer"]


def test_too_early_then_waiting_room_opens_five_minutes_before() -> None:
    room = new_room()
    with pytest.raises(ProtocolError) as caught:
        room.join(PARIS, START - minutes(5) - timedelta(seconds=1))
    assert caught.value.code == "too_early"
    assert room.outbox == () and room.state_of(PARIS) is MemberState.ABSENT
    room.join(PARIS, START - minutes(5))
    assert room.state_of(PARIS) is MemberState.PRESENT


def test_booth_not_booked_and_wrong_room() -> None:
    room, _, _ = both_in()
    with pytest.raises(ProtocolError) as caught:
        room.join(99, START)
    assert caught.value.code == "not_booked"
    with pytest.raises(ProtocolError) as caught:
        room.receive(99, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)
    assert caught.value.code == "not_booked"
    with pytest.raises(ProtocolError) as caught:
        room.receive(PARIS, Offer(id=5, booking_id=BOOKING + 1, sdp=SDP_OFFER), START)
    assert (caught.value.code, caught.value.path, caught.value.ref) == ("wrong_room", "/booking_id", 5)
    with pytest.raises(ProtocolError) as caught:
        room.receive(PARIS, Offer(booking_id=BOOKING, to=99, sdp=SDP_OFFER), START)
    assert (caught.value.code, caught.value.path) == ("not_booked", "/to")
    with pytest.raises(ProtocolError) as caught:
        room.receive(PARIS, Offer(booking_id=BOOKING, to=PARIS, sdp=SDP_OFFER), START)
    assert (caught.value.code, caught.value.path) == ("invalid_message", "/to")
    with pytest.raises(ProtocolError) as caught:
        room.receive(PARIS, Ping(), START)
    assert caught.value.code == "unexpected_message"
    assert room.outbox == ()


def test_signal_to_a_partner_who_has_not_arrived_is_refused() -> None:
    room = new_room()
    room.join(PARIS, START)
    with pytest.raises(ProtocolError) as caught:
        room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)
    assert caught.value.code == "peer_absent"


def test_countdowns_at_five_and_one_minute_then_slot_end() -> None:
    room, paris, sf = both_in()
    assert room.next_deadline() == END - minutes(5)
    room.handle_timer(END - minutes(5) - timedelta(seconds=1))  # early call: nothing due
    assert room.outbox == ()
    room.handle_timer(END - minutes(5))
    assert room.next_deadline() == END - minutes(1)
    room.handle_timer(END - minutes(1))
    assert room.next_deadline() == END
    room.handle_timer(END)
    transfer(room, paris, sf)
    assert summary(paris.take()) == [
        (4, "countdown", {"remaining_seconds": 300}),
        (5, "countdown", {"remaining_seconds": 60}),
        (6, "room_closed", {"reason": CloseReason.SLOT_ENDED}),
    ]
    assert [m.type for m in sf.take()] == ["countdown", "countdown", "room_closed"]
    assert room.closed and room.next_deadline() is None
    for event in (
        lambda: room.join(PARIS, END),
        lambda: room.leave(PARIS, END),
        lambda: room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), END),
    ):
        with pytest.raises(ProtocolError) as caught:
            event()
        assert caught.value.code == "slot_ended"


def test_late_timer_sends_one_countdown_with_the_true_remaining_time() -> None:
    room, paris, sf = both_in()
    room.handle_timer(END - timedelta(seconds=45.5))  # both marks passed while the loop was busy
    transfer(room, paris, sf)
    assert summary(paris.take()) == [(4, "countdown", {"remaining_seconds": 46})]
    assert room.next_deadline() == END


def test_messages_after_the_end_are_refused_before_the_timer_runs() -> None:
    room, _, _ = both_in()
    with pytest.raises(ProtocolError) as caught:
        room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), END)
    assert caught.value.code == "slot_ended"
    assert not room.closed


def test_extend_rearms_countdowns_and_renews_turn_credentials() -> None:
    config = TurnConfig.for_host("turn.example.org", "s3cret")
    room, paris, sf = both_in(new_room(ice_servers=functools.partial(ice_servers, config)))
    room.handle_timer(END - minutes(5))
    new_end = END + minutes(30)
    room.extend(new_end, END - minutes(2))
    transfer(room, paris, sf)
    rows = paris.take()
    assert [m.type for m in rows] == ["countdown", "extended"]
    extended = rows[1]
    assert extended.end == new_end  # type: ignore[attr-defined]
    assert extended.ice_servers[1].username.startswith(f"{int((new_end + config.margin).timestamp())}:")  # type: ignore[attr-defined]
    assert room.next_deadline() == new_end - minutes(5)
    room.handle_timer(END)  # the old end is no longer the end
    assert not room.closed and room.outbox == ()
    room.handle_timer(new_end - minutes(5))
    room.handle_timer(new_end)
    transfer(room, paris, sf)
    assert [m.type for m in sf.take()] == ["countdown", "extended", "countdown", "room_closed"]
    with pytest.raises(ProtocolError) as caught:
        room.extend(new_end + minutes(5), new_end)
    assert caught.value.code == "slot_ended"


def test_extend_must_move_the_end_later() -> None:
    room, _, _ = both_in()
    with pytest.raises(ProtocolError) as caught:
        room.extend(END, START)
    assert caught.value.code == "invalid_extension"


def test_disconnect_reconnecting_resume_replays_exactly_what_was_missed_then_back() -> None:
    room, paris, sf = both_in()
    assert (paris.last_seq, sf.last_seq) == (3, 2)
    room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)
    transfer(room, paris, sf)
    sf.take()

    t = START + minutes(10)
    room.disconnect(SF, t)
    transfer(room, paris, sf)
    assert summary(paris.take()) == [(4, "peer_status", {"peer": SF, "state": RECONNECTING})]
    assert room.next_deadline() == t + RESUME_GRACE

    # Paris goes on trickling into the void: kept for SF, not queued for a dead socket.
    room.receive(PARIS, Candidate(booking_id=BOOKING, candidate=HOST), t + timedelta(seconds=1))
    room.receive(PARIS, Candidate(booking_id=BOOKING, candidate=None), t + timedelta(seconds=2))
    room.receive(PARIS, IceRestart(booking_id=BOOKING), t + timedelta(seconds=3))
    assert room.outbox == ()

    missed = room.resume(SF, sf.last_seq, t + timedelta(seconds=29))
    assert summary(missed) == [
        (4, "candidate", {"sender": PARIS}),
        (5, "candidate", {"sender": PARIS}),
        (6, "ice_restart", {"sender": PARIS}),
    ]
    for message in missed:
        sf.deliver(message)
    room.receive(SF, Answer(booking_id=BOOKING, sdp=SDP_ANSWER), t + timedelta(seconds=30))
    transfer(room, paris, sf)
    assert summary(paris.take()) == [
        (5, "peer_status", {"peer": SF, "state": BACK}),
        (6, "answer", {"sender": SF}),
    ]
    assert room.state_of(SF) is MemberState.PRESENT
    assert room.next_deadline() == END - minutes(5)


def test_resume_replays_from_any_kept_point_and_refuses_the_rest() -> None:
    room, paris, sf = both_in(new_room(history_limit=4))
    room.disconnect(SF, START)
    for _ in range(3):
        room.receive(PARIS, Candidate(booking_id=BOOKING, candidate=HOST), START)
    # SF's seqs 1-5 exist; only 2-5 are kept.
    for bad in (0, 6):
        with pytest.raises(ProtocolError) as caught:
            room.resume(SF, bad, START)
        assert caught.value.code == "resume_failed"
        assert room.state_of(SF) is MemberState.DISCONNECTED
    assert [m.seq for m in room.resume(SF, 1, START)] == [2, 3, 4, 5]


def test_resume_before_the_old_socket_was_seen_dead() -> None:
    room, paris, sf = both_in()
    room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)  # queued, never delivered
    missed = room.resume(SF, sf.last_seq, START)
    assert [m.seq for m in missed] == [3]
    assert room.outbox == ()  # not sent twice
    assert room.state_of(SF) is MemberState.PRESENT


def test_grace_expiry_means_left() -> None:
    room, paris, sf = both_in()
    t = START + minutes(10)
    room.disconnect(SF, t)
    room.handle_timer(t + RESUME_GRACE - timedelta(milliseconds=1))
    assert room.state_of(SF) is MemberState.DISCONNECTED
    room.handle_timer(t + RESUME_GRACE)
    transfer(room, paris, sf)
    assert summary(paris.take()) == [
        (4, "peer_status", {"peer": SF, "state": RECONNECTING}),
        (5, "peer_status", {"peer": SF, "state": LEFT}),
    ]
    assert room.state_of(SF) is MemberState.ABSENT
    with pytest.raises(ProtocolError) as caught:
        room.resume(SF, sf.last_seq, t + RESUME_GRACE)
    assert caught.value.code == "resume_failed"
    room.join(SF, t + minutes(1))  # it may still come back afresh
    transfer(room, paris, sf)
    assert summary(paris.take()) == [(6, "peer_status", {"peer": SF, "state": JOINED})]
    assert [m.seq for m in sf.take()] == [3, 4]  # its numbering goes on


def test_newer_connection_rejoins_afresh() -> None:
    room, paris, sf = both_in()
    room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)  # queued for the old socket
    room.join(SF, START)  # same device key, no resume token: the newer connection wins
    transfer(room, paris, sf)
    assert [m.type for m in sf.take()] == ["joined", "peer_status"]  # the stale offer is not replayed
    assert summary(paris.take()) == [(4, "peer_status", {"peer": SF, "state": JOINED})]
    with pytest.raises(
        ProtocolError
    ) as caught:  # the old offer cannot be answered by the new peer connection
        room.receive(SF, Answer(booking_id=BOOKING, sdp=SDP_ANSWER), START)
    assert caught.value.code == "unexpected_answer"


def test_leave_tells_the_partner() -> None:
    room, paris, sf = both_in()
    room.receive(SF, Leave(booking_id=BOOKING), START)
    transfer(room, paris, sf)
    assert summary(paris.take()) == [(4, "peer_status", {"peer": SF, "state": LEFT})]
    assert sf.take() == []
    room.receive(SF, Join(booking_id=BOOKING), START + minutes(1))
    assert room.state_of(SF) is MemberState.PRESENT


def test_cancelled_room_closes_with_its_reason() -> None:
    room, paris, sf = both_in()
    room.disconnect(SF, START)
    room.close(CloseReason.CANCELLED, START)
    transfer(room, paris, sf)
    assert summary(paris.take()) == [
        (4, "peer_status", {"peer": SF, "state": RECONNECTING}),
        (5, "room_closed", {"reason": CloseReason.CANCELLED}),
    ]
    with pytest.raises(ProtocolError) as caught:
        room.resume(SF, sf.last_seq, START)
    assert caught.value.code == "cancelled"


def test_three_booth_room_has_pairwise_roles_and_needs_to() -> None:
    lyon = 3
    room = new_room(booths=(PARIS, SF, lyon))
    paris, sf, third = FakeBooth(PARIS), FakeBooth(SF), FakeBooth(lyon)
    for booth in (PARIS, SF, lyon):
        room.join(booth, START)
    transfer(room, paris, sf, third)
    joined = sf.inbox[0]
    assert isinstance(joined, Joined)
    assert [(p.booth_id, p.role) for p in joined.peers] == [(PARIS, Role.POLITE), (lyon, Role.IMPOLITE)]
    with pytest.raises(ProtocolError) as caught:
        room.receive(SF, Offer(booking_id=BOOKING, sdp=SDP_OFFER), START)
    assert caught.value.path == "/to"
    room.receive(SF, Offer(booking_id=BOOKING, to=lyon, sdp=SDP_OFFER), START)
    transfer(room, paris, sf, third)
    assert third.inbox[-1].type == "offer" and paris.inbox[-1].type == "peer_status"


def test_room_rejects_bad_construction() -> None:
    with pytest.raises(ValueError):
        Room(BOOKING, (PARIS,), START, END, START)
    with pytest.raises(ValueError):
        Room(BOOKING, (PARIS, PARIS), START, END, START)
    with pytest.raises(ValueError):
        Room(BOOKING, (PARIS, SF), END, START, START)
    with pytest.raises(ValueError):
        Room(BOOKING, (PARIS, SF), START.replace(tzinfo=None), END, START)


def test_two_negotiating_booths_connect_and_restart_ice_by_themselves() -> None:
    room = new_room()
    paris, sf = NegotiatingBooth(PARIS), NegotiatingBooth(SF)
    room.join(PARIS, START - minutes(5))
    pump(room, [paris, sf], START - minutes(5))
    assert paris.role is Role.IMPOLITE and paris.outgoing == [] and paris.remote_sdp is None  # waiting room
    room.join(SF, START - minutes(2))
    pump(room, [paris, sf], START - minutes(2))
    assert (paris.remote_sdp, sf.remote_sdp) == (SDP_ANSWER, SDP_OFFER)
    assert len(paris.remote_candidates) == len(sf.remote_candidates) == 3
    assert paris.remote_candidates[-1] is None and sf.remote_candidates[-1] is None  # end of candidates

    sf.outgoing.append(IceRestart(booking_id=BOOKING))  # the polite side asks
    pump(room, [paris, sf], START)
    assert [m.type for m in sf.inbox[-4:]] == ["offer", "candidate", "candidate", "candidate"]
    assert sf.remote_candidates[-1] is None and len(sf.remote_candidates) == 6


def test_offer_collision_resolved_by_roles() -> None:
    room, _, _ = both_in()
    paris, sf = (
        NegotiatingBooth(PARIS, last_seq=3, role=Role.IMPOLITE),
        NegotiatingBooth(SF, last_seq=2, role=Role.POLITE),
    )
    paris.offer()
    sf.offer()  # both at once
    pump(room, [paris, sf], START)
    assert paris.ignored_offers == 1
    assert (paris.remote_sdp, sf.remote_sdp) == (SDP_ANSWER, SDP_OFFER)
    assert not paris.making_offer and not sf.making_offer


def test_relay_of_a_wire_dict_returns_the_partners_copy_instead_of_queueing_it() -> None:
    # The server's path: the dict that passed the schema, relayed without dataclasses.
    room, paris, sf = both_in()
    wire = {
        "type": "candidate",
        "booking_id": BOOKING,
        "candidate": {"candidate": HOST.candidate, "sdpMid": "0"},
    }
    delivery = room.relay(PARIS, wire, START)
    assert delivery is not None and room.outbox == ()
    recipient, message = delivery
    assert recipient == SF
    sf.deliver(message)  # numbered next for SF, valid against the server schema
    assert summary(sf.take()) == [(3, "candidate", {"sender": PARIS})]
    # ``to`` may come as 2.0 (a JSON Schema integer): it names booth 2 all the same.
    to_sf = {"type": "ice_restart", "booking_id": BOOKING, "to": float(SF), "id": "r1"}
    assert room.relay(PARIS, to_sf, START)[0] == SF  # type: ignore[index]


def test_relay_to_a_reconnecting_partner_is_kept_for_its_resume() -> None:
    room, paris, sf = both_in()
    room.disconnect(SF, START)
    transfer(room, paris, sf)
    wire = {"type": "offer", "booking_id": BOOKING, "sdp": SDP_OFFER}
    assert room.relay(PARIS, wire, START + timedelta(seconds=1)) is None
    missed = room.resume(SF, sf.last_seq, START + timedelta(seconds=2))
    assert len(missed) == 1 and isinstance(missed[0], Relayed)
    assert missed[0].message() == PeerOffer(seq=3, booking_id=BOOKING, sender=PARIS, sdp=SDP_OFFER)


@pytest.mark.parametrize(
    ("sender", "wire", "code"),
    [
        (PARIS, {"type": "offer", "booking_id": BOOKING + 1, "sdp": SDP_OFFER}, "wrong_room"),
        (PARIS, {"type": "answer", "booking_id": BOOKING, "sdp": SDP_ANSWER}, "unexpected_answer"),
        (PARIS, {"type": "ice_restart", "booking_id": BOOKING, "to": PARIS}, "invalid_message"),
        (PARIS, {"type": "ice_restart", "booking_id": BOOKING, "to": 99}, "not_booked"),
        (99, {"type": "ice_restart", "booking_id": BOOKING}, "not_booked"),
    ],
)
def test_a_refused_relay_changes_nothing(sender: int, wire: dict[str, object], code: str) -> None:
    room, _paris, _sf = both_in()
    seqs = (room.last_seq(PARIS), room.last_seq(SF))
    with pytest.raises(ProtocolError) as caught:
        room.relay(sender, wire, START)
    assert caught.value.code == code
    assert (room.last_seq(PARIS), room.last_seq(SF)) == seqs and room.outbox == ()


def test_relay_after_the_end_or_from_an_absent_booth_is_refused() -> None:
    room, _paris, _sf = both_in()
    wire = {"type": "ice_restart", "booking_id": BOOKING}
    with pytest.raises(ProtocolError, match="ended") as caught:
        room.relay(PARIS, wire, END)
    assert caught.value.code == "slot_ended"
    room.leave(SF, START)
    with pytest.raises(ProtocolError) as caught:
        room.relay(SF, wire, START)
    assert caught.value.code == "not_in_room"
    with pytest.raises(ProtocolError) as caught:
        room.relay(PARIS, wire, START)
    assert caught.value.code == "peer_absent"

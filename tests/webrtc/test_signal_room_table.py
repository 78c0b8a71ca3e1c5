"""The room's transition table: every (state, event) pair, and refusals that change nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.webrtc.signal_helpers import (
    BOOKING,
    END,
    PARIS,
    SDP_ANSWER,
    SDP_OFFER,
    SF,
    START,
    minutes,
    new_room,
)
from webrtc.errors import ProtocolError
from webrtc.limits import RESUME_GRACE
from webrtc.messages import Answer, Candidate, CloseReason, IceCandidate, Offer
from webrtc.room import REFUSALS, TRANSITIONS, Event, MemberState, Room

NOW = START + minutes(10)
CAND = IceCandidate(candidate="", sdp_mid="0")


def room_with_paris(state: MemberState) -> Room:
    """SF present; Paris in ``state``."""
    room = new_room()
    room.join(SF, START)
    if state is not MemberState.ABSENT:
        room.join(PARIS, START)
    if state is MemberState.DISCONNECTED:
        room.disconnect(PARIS, START + minutes(9))
    room.drain()
    return room


EVENTS: dict[Event, Callable[[Room, datetime], Any]] = {
    Event.JOIN: lambda room, now: room.join(PARIS, now),
    Event.SIGNAL: lambda room, now: room.receive(PARIS, Candidate(booking_id=BOOKING, candidate=CAND), now),
    Event.DISCONNECT: lambda room, now: room.disconnect(PARIS, now),
    Event.RESUME: lambda room, now: room.resume(PARIS, room.last_seq(PARIS), now),
    Event.LEAVE: lambda room, now: room.leave(PARIS, now),
    Event.GRACE_EXPIRED: lambda room, now: room.handle_timer(now + RESUME_GRACE),
}


def snapshot(room: Room) -> dict[str, Any]:
    return copy.deepcopy(vars(room))


@pytest.mark.parametrize("state", list(MemberState), ids=lambda s: s.value)
@pytest.mark.parametrize("event", list(Event), ids=lambda e: e.value)
def test_every_state_and_event(state: MemberState, event: Event) -> None:
    room = room_with_paris(state)
    before = snapshot(room)
    expected = TRANSITIONS.get((state, event))
    if event is Event.GRACE_EXPIRED:
        EVENTS[event](room, NOW)  # the timer only ever applies it where the table allows it
        assert room.state_of(PARIS) is (expected or state)
        return
    if expected is None:
        with pytest.raises(ProtocolError) as caught:
            EVENTS[event](room, NOW)
        assert caught.value.code == REFUSALS.get((state, event), "not_in_room")
        assert snapshot(room) == before
    else:
        EVENTS[event](room, NOW)
        assert room.state_of(PARIS) is expected


def closed(reason: CloseReason) -> Callable[[], Room]:
    def make() -> Room:
        room = room_with_paris(MemberState.PRESENT)
        if reason is CloseReason.SLOT_ENDED:
            room.handle_timer(END)
        else:
            room.close(reason, NOW)
        room.drain()
        return room

    return make


def paris_alone() -> Room:
    room = new_room()
    room.join(PARIS, START)
    room.drain()
    return room


def paris_offered() -> Room:
    room = room_with_paris(MemberState.PRESENT)
    room.receive(PARIS, Offer(booking_id=BOOKING, sdp=SDP_OFFER), NOW)
    return room


# (room factory, event, now, expected code): refusals that are not about the member's state.
REFUSED: list[tuple[str, Callable[[], Room], Callable[[Room, datetime], Any], datetime, str]] = [
    ("too early", new_room, EVENTS[Event.JOIN], START - minutes(6), "too_early"),
    ("after the end", lambda: room_with_paris(MemberState.PRESENT), EVENTS[Event.SIGNAL], END, "slot_ended"),
    ("join after the end", new_room, EVENTS[Event.JOIN], END, "slot_ended"),
    (
        "resume after the end",
        lambda: room_with_paris(MemberState.DISCONNECTED),
        EVENTS[Event.RESUME],
        END,
        "slot_ended",
    ),
    ("stranger joins", new_room, lambda room, now: room.join(99, now), NOW, "not_booked"),
    ("stranger disconnects", new_room, lambda room, now: room.disconnect(99, now), NOW, "not_booked"),
    (
        "other booking",
        lambda: room_with_paris(MemberState.PRESENT),
        lambda room, now: room.receive(PARIS, Offer(booking_id=BOOKING + 1, sdp=SDP_OFFER), now),
        NOW,
        "wrong_room",
    ),
    ("partner absent", paris_alone, EVENTS[Event.SIGNAL], NOW, "peer_absent"),
    (
        "answer nobody asked for",
        lambda: room_with_paris(MemberState.PRESENT),
        lambda room, now: room.receive(PARIS, Answer(booking_id=BOOKING, sdp=SDP_ANSWER), now),
        NOW,
        "unexpected_answer",
    ),
    (
        "answer own offer",
        paris_offered,
        lambda room, now: room.receive(PARIS, Answer(booking_id=BOOKING, sdp=SDP_ANSWER), now),
        NOW,
        "unexpected_answer",
    ),
    (
        "resume too far back",
        lambda: room_with_paris(MemberState.DISCONNECTED),
        lambda room, now: room.resume(PARIS, room.last_seq(PARIS) + 1, now),
        NOW,
        "resume_failed",
    ),
    (
        "shorter extension",
        new_room,
        lambda room, now: room.extend(END - timedelta(seconds=1), now),
        NOW,
        "invalid_extension",
    ),
    (
        "extension after the end",
        new_room,
        lambda room, now: room.extend(END + minutes(9), now),
        END,
        "slot_ended",
    ),
    (
        "close twice",
        closed(CloseReason.CANCELLED),
        lambda room, now: room.close(CloseReason.CANCELLED, now),
        NOW,
        "cancelled",
    ),
    *[
        (f"{event.value} in a closed room", closed(CloseReason.SLOT_ENDED), EVENTS[event], NOW, "slot_ended")
        for event in (Event.JOIN, Event.SIGNAL, Event.DISCONNECT, Event.RESUME, Event.LEAVE)
    ],
    (
        "extend a cancelled room",
        closed(CloseReason.CANCELLED),
        lambda room, now: room.extend(END + minutes(9), now),
        NOW,
        "cancelled",
    ),
]


@pytest.mark.parametrize(("name", "make", "event", "now", "code"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refusals_leave_the_room_unchanged(
    name: str, make: Callable[[], Room], event: Callable[[Room, datetime], Any], now: datetime, code: str
) -> None:
    room = make()
    before = snapshot(room)
    with pytest.raises(ProtocolError) as caught:
        event(room, now)
    assert caught.value.code == code
    assert snapshot(room) == before


def test_closed_room_ignores_timers_and_has_no_deadline() -> None:
    room = closed(CloseReason.SLOT_ENDED)()
    before = snapshot(room)
    room.handle_timer(END + minutes(10))
    assert snapshot(room) == before and room.next_deadline() is None


def test_table_only_names_member_states_and_events() -> None:
    assert {state for state, _ in TRANSITIONS} <= set(MemberState)
    assert {event for _, event in TRANSITIONS} == set(Event)
    assert not set(REFUSALS) & set(TRANSITIONS)

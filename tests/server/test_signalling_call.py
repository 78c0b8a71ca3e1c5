"""A whole call through the real server: two websocket booths in one booked session."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType

from tests.conftest import CANTINE_A, CANTINE_B, SF_A, SF_B
from tests.server.signalling_support import (
    CANDIDATE,
    SDP_ANSWER,
    SDP_OFFER,
    booked_session,
    pair,
    set_clock,
)


async def test_call_negotiates_with_roles_trickle_and_ice_restart(
    make_client, sqlite_url, clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.connect(CANTINE_A), await s.connect(SF_A)
    assert paris.welcome["booth_id"] == CANTINE_A and paris.welcome["resumed"] is False
    timings = {k: paris.welcome[k] for k in ("heartbeat_interval", "idle_timeout", "resume_grace")}
    assert timings == {"heartbeat_interval": 20, "idle_timeout": 45, "resume_grace": 30}
    entry = paris.schedules[0]["bookings"][0]
    assert entry["booking_id"] == s.booking_id
    assert entry["local_start"] == "2027-03-16T17:00:00+01:00"
    assert entry["partners"][0]["local_start"] == "2027-03-16T09:00:00-07:00"

    # Paris arrives first: the waiting room.
    await paris.send(type="join", id="j1", booking_id=s.booking_id)
    joined = await paris.expect("joined", booking_id=s.booking_id, end="2027-03-16T17:00:00Z")
    assert joined["peers"] == [{"booth_id": SF_A, "role": "impolite"}]
    await paris.expect("peer_status", peer=SF_A, state="waiting")
    await sf.send(type="join", booking_id=s.booking_id)
    joined = await sf.expect("joined")
    assert joined["peers"] == [{"booth_id": CANTINE_A, "role": "polite"}]
    await sf.expect("peer_status", peer=CANTINE_A, state="joined")
    await paris.expect("peer_status", peer=SF_A, state="joined")

    # The impolite side offers; the polite side answers; candidates trickle both ways.
    await paris.send(type="offer", booking_id=s.booking_id, sdp=SDP_OFFER)
    await paris.send(type="candidate", booking_id=s.booking_id, candidate=CANDIDATE)
    await sf.expect("offer", sdp=SDP_OFFER, **{"from": CANTINE_A})
    assert (await sf.expect("candidate"))["candidate"] == CANDIDATE
    await sf.send(type="answer", booking_id=s.booking_id, sdp=SDP_ANSWER)
    await sf.send(type="candidate", booking_id=s.booking_id, candidate=CANDIDATE)
    await sf.send(type="candidate", booking_id=s.booking_id, candidate=None)
    await paris.expect("answer", sdp=SDP_ANSWER, **{"from": SF_A})
    await paris.expect("candidate", candidate=CANDIDATE)
    await paris.expect("candidate", candidate=None)
    await paris.send(type="candidate", booking_id=s.booking_id, candidate=None)
    await sf.expect("candidate", candidate=None)

    # A second answer has no offer waiting: refused, nothing relayed.
    await sf.send(type="answer", id="a2", booking_id=s.booking_id, sdp=SDP_ANSWER)
    await sf.expect("error", code="unexpected_answer", ref="a2")

    # ICE restart: relayed, the impolite side makes a new offer.
    await sf.send(type="ice_restart", booking_id=s.booking_id)
    await paris.expect("ice_restart", **{"from": SF_A})
    await paris.send(type="offer", booking_id=s.booking_id, sdp=SDP_OFFER)
    await sf.expect("offer")
    await paris.silent(0.2)

    # Logs of the whole call carry no key, token or SDP.
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "booth 1 joined booking 1" in text
    secrets = [
        *s.keys.values(),
        *s.ada.values(),
        paris.welcome["session_token"],
        paris.welcome["resume_token"],
        sf.welcome["session_token"],
        sf.welcome["resume_token"],
        "o=- 1 2",
        "o=- 2 2",
        "candidate:1",
    ]
    for secret in secrets:
        assert secret.removeprefix("Bearer ") not in text


async def test_join_rules_wrong_booth_too_early_no_such_booking(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, at="2027-03-16T15:54:00Z")
    paris = await s.connect(CANTINE_A)
    await paris.send(type="join", id=1, booking_id=s.booking_id)
    error = await paris.expect("error", code="too_early", ref=1)
    assert "15:55" in error["message"]
    # A booth of the same venue that is not booked.
    other = await s.connect(CANTINE_B, hello={"device_key": await pair(s.client, CANTINE_B, s.staff_paris)})
    set_clock(clock, "2027-03-16T15:56:00Z")
    await other.send(type="join", id=2, booking_id=s.booking_id)
    await other.expect("error", code="not_booked", ref=2)
    await other.send(type="join", id=3, booking_id=999)
    await other.expect("error", code="not_booked", ref=3)
    # The connection survived every refusal, and the booked booth gets in now.
    await paris.send(type="join", booking_id=s.booking_id)
    await paris.expect("joined")
    await other.send(type="ping", id="p")
    await other.expect("pong", ref="p")


async def test_countdowns_then_slot_end_then_idle_with_schedule(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    set_clock(clock, "2027-03-16T16:55:00Z")
    for booth in (paris, sf):
        countdown = await booth.expect("countdown", end="2027-03-16T17:00:00Z")
        assert 299 <= countdown["remaining_seconds"] <= 300
    set_clock(clock, "2027-03-16T16:59:00Z")
    for booth in (paris, sf):
        countdown = await booth.expect("countdown")
        assert 59 <= countdown["remaining_seconds"] <= 60
    set_clock(clock, "2027-03-16T17:00:01Z")
    for booth in (paris, sf):
        await booth.expect("room_closed", reason="slot_ended")
        schedule = await booth.expect("schedule")  # idle again: the ended booking is gone
        assert schedule["bookings"] == []
    await paris.send(type="join", id="late", booking_id=s.booking_id)
    await paris.expect("error", code="slot_ended", ref="late")
    # A signal for the closed room is told why it is closed (docs/protocol.md, section 7).
    await paris.send(type="offer", id="o", booking_id=s.booking_id, sdp=SDP_OFFER)
    await paris.expect("error", code="slot_ended", ref="o")


async def test_bad_messages_get_error_codes_and_the_room_survives(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    await paris.ws.send_str("{not json")
    await paris.expect("error", code="bad_json")
    await paris.ws.send_bytes(b'{"type": "ping"}')
    await paris.expect("error", code="bad_json")
    await paris.send(type="dance", id="d")
    await paris.expect("error", code="unknown_type", ref="d")
    await paris.send(type=["offer"], id="t")
    await paris.expect("error", code="invalid_message", ref="t", path="/type")
    await paris.send(type="offer", id="x", booking_id=s.booking_id, sdp="not sdp")
    error = await paris.expect("error", code="invalid_message", ref="x")
    assert error["path"] == "/sdp"
    await paris.send(
        type="candidate", id="c", booking_id=s.booking_id, candidate={"candidate": "candidate:1"}
    )
    await paris.expect("error", code="invalid_message", ref="c")
    await paris.send(type="offer", id="smuggle", booking_id=s.booking_id, sdp=SDP_OFFER, extra="field")
    await paris.expect("error", code="invalid_message", ref="smuggle")
    await paris.send(type="offer", id="w", booking_id=s.booking_id + 1, sdp=SDP_OFFER)
    await paris.expect("error", code="wrong_room", ref="w", path="/booking_id")
    await paris.send(type="join", id="w2", booking_id=s.booking_id + 1)
    await paris.expect("error", code="wrong_room", ref="w2")
    await paris.send(type="hello", id="h", version=1, device_key=s.keys[CANTINE_A])
    await paris.expect("error", code="unexpected_message", ref="h")
    await paris.send(type="offer", booking_id=s.booking_id, to=SF_B, sdp=SDP_OFFER)
    await paris.expect("error", code="not_booked")
    # JSON that is not I-JSON: a lone surrogate (escaped, or encoded in the frame's bytes).
    lone = '{"type":"candidate","booking_id":%d,"candidate":{"candidate":"candidate:1 \\ud800","sdpMid":"0"}}'
    await paris.ws.send_str(lone % s.booking_id)
    await paris.expect("error", code="bad_json")
    await paris.ws.send_frame(b'{"type":"ice_restart","booking_id":1,"x":"\xed\xa0\x80"}', WSMsgType.TEXT)
    await paris.expect("error", code="bad_json")
    # Nothing of that reached the partner; a valid offer still does, without the sender's routing.
    await paris.send(type="offer", id="o1", to=float(SF_A), booking_id=s.booking_id, sdp=SDP_OFFER)
    offer = await sf.expect("offer", sdp=SDP_OFFER)
    assert offer.keys() == {"type", "seq", "booking_id", "from", "sdp"} and offer["from"] == CANTINE_A
    await sf.silent(0.2)


async def test_leave_then_partner_sees_left_and_leaver_gets_schedule(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    await sf.send(type="leave", booking_id=s.booking_id)
    await paris.expect("peer_status", peer=SF_A, state="left")
    assert (await sf.expect("schedule"))["bookings"][0]["booking_id"] == s.booking_id
    await paris.send(type="offer", id="o", booking_id=s.booking_id, sdp=SDP_OFFER)
    await paris.expect("error", code="peer_absent", ref="o")
    await sf.send(type="join", booking_id=s.booking_id)  # may come back while the booking lasts
    await sf.expect("joined")
    await paris.expect("peer_status", peer=SF_A, state="joined")


async def test_metrics_count_booths_rooms_messages_and_join_latency(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    await paris.send(type="bogus")
    await paris.expect("error", code="unknown_type")
    for _ in range(3):  # relayed signals are counted both ways too
        await paris.send(type="candidate", booking_id=s.booking_id, candidate=CANDIDATE)
        await sf.expect("candidate")
    response = await s.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert "sebastian_booths_connected 2.0" in text
    assert "sebastian_rooms_open 1.0" in text
    assert 'sebastian_signal_messages_total{direction="in",type="join"} 2.0' in text
    assert 'sebastian_signal_messages_total{direction="out",type="joined"} 2.0' in text
    assert 'sebastian_signal_messages_total{direction="in",type="candidate"} 3.0' in text
    assert 'sebastian_signal_messages_total{direction="out",type="candidate"} 3.0' in text
    assert "# TYPE sebastian_signal_messages_total counter" in text
    assert "sebastian_join_latency_seconds_count 1.0" in text
    assert 'sebastian_signal_errors_total{code="unknown_type"} 1.0' in text
    # A second app has its own registry.
    other = await make_client(sqlite_url.replace(".db", "-2.db"))
    assert "sebastian_booths_connected 0.0" in await (await other.get("/metrics")).text()
    await sf.ws.close()
    await paris.expect("peer_status", state="reconnecting")
    assert "sebastian_booths_connected 1.0" in await (await s.client.get("/metrics")).text()

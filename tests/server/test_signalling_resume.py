"""Dropped sockets: resume with replay, the 30 s grace, and "newer wins"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import CANTINE_A, SF_A
from tests.server.signalling_support import CANDIDATE, SDP_OFFER, booked_session
from webrtc import turn


async def test_resume_replays_missed_messages_and_partner_sees_back(make_client, sqlite_url, clock) -> None:
    s = await booked_session(
        make_client,
        sqlite_url,
        clock,
        turn_urls=("turns:turn.example.org:443?transport=tcp",),
        turn_secret="x",
    )
    paris, sf = await s.both_joined()
    await paris.send(type="offer", booking_id=s.booking_id, sdp=SDP_OFFER)
    await sf.expect("offer")
    seen, token = sf.last_seq, sf.welcome["resume_token"]

    await sf.ws.close()  # the SF booth's network drops mid-call
    await paris.expect("peer_status", peer=SF_A, state="reconnecting")
    # What Paris sends meanwhile is kept for SF.
    await paris.send(type="candidate", booking_id=s.booking_id, candidate=CANDIDATE)
    await paris.send(type="candidate", booking_id=s.booking_id, candidate=None)
    await paris.send(type="ice_restart", booking_id=s.booking_id)
    clock.advance(timedelta(seconds=20))  # inside the grace

    back = await s.connect(SF_A, hello={"device_key": s.keys[SF_A], "resume_token": token, "last_seq": seen})
    back.last_seq = seen
    assert back.welcome["resumed"] is True and back.welcome["resume_token"] != token
    # Fresh TURN credentials, valid for the rest of the slot plus 15 minutes.
    (relay,) = back.welcome["ice_servers"]
    assert turn.expiry_of(relay["username"]) == datetime(2027, 3, 16, 17, 15, tzinfo=UTC)
    await back.expect("candidate", candidate=CANDIDATE, seq=seen + 1)
    await back.expect("candidate", candidate=None)
    await back.expect("ice_restart", **{"from": CANTINE_A})
    await paris.expect("peer_status", peer=SF_A, state="back")
    # And the call carries on.
    await back.send(type="ice_restart", booking_id=s.booking_id)
    await paris.expect("ice_restart")


async def test_resume_with_unknown_token_fails_then_join_afresh(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    await sf.ws.close()
    await paris.expect("peer_status", state="reconnecting")
    again = await s.connect(
        SF_A,
        schedule=False,
        hello={"device_key": s.keys[SF_A], "resume_token": "rt_not-the-right-token-at-all", "last_seq": 3},
    )
    assert again.welcome["resumed"] is False
    await again.expect("error", code="resume_failed")
    await again.send(type="join", booking_id=s.booking_id)
    await again.expect("joined")
    await paris.expect("peer_status", peer=SF_A, state="joined")
    metrics = await (await s.client.get("/metrics")).text()
    assert 'sebastian_signal_resumes_total{result="failed"} 1.0' in metrics


async def test_grace_expiry_tells_partner_left(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    token, seen = sf.welcome["resume_token"], sf.last_seq
    await sf.ws.close()
    await paris.expect("peer_status", peer=SF_A, state="reconnecting")
    clock.advance(timedelta(seconds=31))
    await paris.expect("peer_status", peer=SF_A, state="left")
    late = await s.connect(
        SF_A, schedule=False, hello={"device_key": s.keys[SF_A], "resume_token": token, "last_seq": seen}
    )
    assert late.welcome["resumed"] is False
    await late.expect("error", code="resume_failed")


async def test_newer_connection_wins_and_old_gets_4005(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    second = await s.connect(SF_A)  # a second kiosk tab, no resume token
    before = await sf.expect_closed(4005)
    assert before[-1]["type"] == "error" and before[-1]["code"] == "replaced"
    assert sf.ws.close_code == 4005
    await paris.expect("peer_status", peer=SF_A, state="reconnecting")
    await second.send(type="join", booking_id=s.booking_id)
    await second.expect("joined")
    await second.expect("peer_status", peer=CANTINE_A, state="joined")
    await paris.expect("peer_status", peer=SF_A, state="joined")
    await paris.send(type="offer", booking_id=s.booking_id, sdp=SDP_OFFER)
    await second.expect("offer")


async def test_session_token_reconnects_and_expires(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris = await s.connect(CANTINE_A)
    token = paris.welcome["session_token"]
    assert paris.welcome["session_expires_at"] == "2027-03-16T16:56:00Z"
    await paris.ws.close()
    again = await s.connect(CANTINE_A, hello={"session_token": token})
    assert again.booth_id == CANTINE_A
    await again.ws.close()
    clock.advance(timedelta(hours=1, seconds=1))
    expired = await s.connect(CANTINE_A, hello={"device_key": s.keys[CANTINE_A]}, schedule=False)
    await expired.ws.close()
    late = await s.socket()
    await late.send_json({"type": "hello", "version": 1, "session_token": token})
    message = await late.receive_json()
    assert message["code"] == "token_expired"
    await late.receive()
    assert late.close_code == 4002
    forged = await s.socket()
    await forged.send_json({"type": "hello", "version": 1, "session_token": token[:-4] + "AAAA"})
    assert (await forged.receive_json())["code"] == "unauthorized"
    await forged.receive()
    assert forged.close_code == 4001

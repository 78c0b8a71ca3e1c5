"""What staff do around the calls: pair booths, see presence, extend, cancel, move bookings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booth_server.config import Config, ConfigError
from tests.conftest import ADMIN, CANTINE_A, CANTINE_B, SF_A, SF_B, token_for
from tests.server.signalling_support import book, booked_session, check_openapi, instant, pair
from webrtc import turn


async def test_pairing_rotation_and_revocation(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    c = s.client
    # Only staff of the booth's venue, or an admin.
    assert (await c.post(f"/api/v1/booths/{CANTINE_A}/device-key", headers=s.ada)).status == 403
    assert (await c.post(f"/api/v1/booths/{CANTINE_A}/device-key", headers=s.staff_sf)).status == 403
    assert (await c.post("/api/v1/booths/99/device-key", headers=s.staff_sf)).status == 404
    assert (await c.post(f"/api/v1/booths/{CANTINE_A}/device-key")).status == 401
    paris, sf = await s.both_joined()

    # Rotating: the old key is refused at once and its live socket closed with unauthorized.
    response = await c.post(f"/api/v1/booths/{CANTINE_A}/device-key", headers=await token_for(c, ADMIN))
    assert response.status == 201
    body = await response.json()
    check_openapi("DeviceKey", body)
    assert body["booth_id"] == CANTINE_A and body["replaced"] is True
    new_key = body["device_key"]
    assert new_key.startswith("dk_") and new_key != s.keys[CANTINE_A]
    before = await paris.expect_closed(4001)
    assert before[-1]["code"] == "unauthorized"
    await sf.expect("peer_status", peer=CANTINE_A, state="reconnecting")
    old = await s.socket()
    await old.send_json({"type": "hello", "version": 1, "device_key": s.keys[CANTINE_A]})
    assert (await old.receive_json())["code"] == "unauthorized"
    old_token = paris.welcome["session_token"]  # session tokens die with their key
    stale = await s.socket()
    await stale.send_json({"type": "hello", "version": 1, "session_token": old_token})
    assert (await stale.receive_json())["code"] == "unauthorized"
    again = await s.connect(CANTINE_A, hello={"device_key": new_key})
    await again.send(type="join", booking_id=s.booking_id)
    await again.expect("joined")

    # Revoking: the socket closes, the key no longer works; revoking twice is harmless.
    assert (await c.delete(f"/api/v1/booths/{SF_A}/device-key", headers=s.staff_sf)).status == 204
    await sf.expect_closed(4001)
    assert (await c.delete(f"/api/v1/booths/{SF_A}/device-key", headers=s.staff_sf)).status == 204
    gone = await s.socket()
    await gone.send_json({"type": "hello", "version": 1, "device_key": s.keys[SF_A]})
    assert (await gone.receive_json())["code"] == "unauthorized"


async def test_staff_add_booths_to_their_venue(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    c = s.client
    response = await c.post("/api/v1/booths", headers=s.staff_sf, json={"name": "SF C"})
    assert response.status == 201, await response.text()
    booth = await response.json()
    check_openapi("Booth", booth)
    assert booth["venue_id"] == 2 and booth["timezone"] == "America/Los_Angeles"
    assert (await c.post("/api/v1/booths", headers=s.staff_sf, json={"name": "SF C"})).status == 409
    assert (
        await c.post("/api/v1/booths", headers=s.staff_sf, json={"name": "X", "venue_id": 1})
    ).status == 403
    assert (await c.post("/api/v1/booths", headers=s.ada, json={"name": "Mine"})).status == 403
    admin = await token_for(c, ADMIN)
    missing = await c.post("/api/v1/booths", headers=admin, json={"name": "Somewhere"})
    assert missing.status == 422 and (await missing.json())["error"]["field"] == "venue_id"
    assert (
        await c.post("/api/v1/booths", headers=admin, json={"name": "Cantine C", "venue_id": 1})
    ).status == 201
    new_key = await pair(c, booth["id"], s.staff_sf)
    fresh = await s.connect(booth["id"], hello={"device_key": new_key})
    assert fresh.schedules[0]["timezone"] == "America/Los_Angeles" and fresh.schedules[0]["bookings"] == []


async def test_presence_shows_who_is_online_and_where(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    c = s.client
    assert (await c.get("/api/v1/venues/1/presence", headers=s.staff_sf)).status == 403
    assert (await c.get("/api/v1/venues/1/presence", headers=s.ada)).status == 403
    assert (await c.get("/api/v1/venues/9/presence", headers=s.staff_paris)).status == 404

    async def states(venue: int, headers: dict[str, str]) -> dict[int, dict]:
        response = await c.get(f"/api/v1/venues/{venue}/presence", headers=headers)
        assert response.status == 200
        body = await response.json()
        check_openapi("Presence", body)
        return {b["booth_id"]: b for b in body["booths"]}

    offline = await states(1, s.staff_paris)
    assert offline[CANTINE_A]["state"] == "offline" and offline[CANTINE_A]["since"] is None
    paris = await s.connect(CANTINE_A)
    idle = (await states(1, s.staff_paris))[CANTINE_A]
    assert idle["state"] == "idle" and idle["online"] is True and idle["booking_id"] is None
    assert instant(idle["since"]) >= instant("2027-03-16T15:56:00Z")
    await paris.send(type="join", booking_id=s.booking_id)
    await paris.expect("joined")
    here = await states(1, await token_for(c, ADMIN))
    assert here[CANTINE_A]["state"] == "in_room" and here[CANTINE_A]["booking_id"] == s.booking_id
    assert here[CANTINE_B]["state"] == "offline"
    await paris.ws.close()
    for _ in range(50):
        away = (await states(1, s.staff_paris))[CANTINE_A]
        if away["state"] != "in_room":
            break
    assert away == {**away, "state": "reconnecting", "online": False, "booking_id": s.booking_id}
    clock.advance(timedelta(seconds=31))
    for _ in range(100):
        if (await states(1, s.staff_paris))[CANTINE_A]["state"] == "offline":
            break
    assert (await states(1, s.staff_paris))[CANTINE_A]["state"] == "offline"


async def test_staff_extend_a_running_session(make_client, sqlite_url, clock) -> None:
    s = await booked_session(
        make_client,
        sqlite_url,
        clock,
        stun_urls=("stun:turn.example.org:3478",),
        turn_urls=("turns:turn.example.org:443?transport=tcp",),
        turn_secret="north-pole",
    )
    c = s.client
    paris, sf = await s.both_joined()
    set_to = "2027-03-16T16:30:00Z"
    clock.advance(instant(set_to) - clock.now())
    url = f"/api/v1/bookings/{s.booking_id}/extend"
    assert (await c.post(url, headers=s.ada, json={"minutes": 15})).status == 403
    assert (await c.post(url, headers=s.staff_sf, json={"minutes": 0})).status == 422
    response = await c.post(url, headers=s.staff_sf, json={"minutes": 15, "reason": "investor stayed"})
    assert response.status == 200, await response.text()
    body = await response.json()
    check_openapi("Booking", body)
    assert body["end"] == "2027-03-16T17:15:00Z" and body["sequence"] == 1
    assert body["override_reason"] == "extended by staff by 15 min: investor stayed"
    for booth in (paris, sf):
        extended = await booth.expect("extended", end="2027-03-16T17:15:00Z")
        servers = extended["ice_servers"]
        assert servers[0] == {"urls": ["stun:turn.example.org:3478"]}
        assert turn.expiry_of(servers[1]["username"]) == datetime(2027, 3, 16, 17, 30, tzinfo=UTC)
    # Countdowns follow the new end.
    clock.advance(instant("2027-03-16T17:10:00Z") - clock.now())
    for booth in (paris, sf):
        assert (await booth.expect("countdown", end="2027-03-16T17:15:00Z"))["remaining_seconds"] <= 300

    # A booth booked right after the new end refuses a further extension (409, nothing sent).
    await book(
        c, s.staff_paris, start="2027-03-16T17:30:00Z", booths=(CANTINE_A, SF_B), override_reason="VIP"
    )
    conflict = await c.post(url, headers=s.staff_sf, json={"minutes": 15})
    assert conflict.status == 409 and (await conflict.json())["error"]["code"] == "conflict"
    await sf.silent(0.2)


async def test_ice_servers_in_welcome_and_joined_and_config_errors(make_client, sqlite_url, clock) -> None:
    s = await booked_session(
        make_client,
        sqlite_url,
        clock,
        turn_urls=("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp"),
        turn_secret="north-pole",
    )
    paris = await s.connect(CANTINE_A)
    (welcome_turn,) = paris.welcome["ice_servers"]
    assert "turns:turn.example.org:443?transport=tcp" in welcome_turn["urls"]
    server_time = instant(paris.welcome["server_time"])
    assert abs(
        turn.expiry_of(welcome_turn["username"]) - (server_time + timedelta(hours=1, minutes=15))
    ) < timedelta(seconds=2)
    assert welcome_turn["username"].endswith(f":{CANTINE_A}")
    await paris.send(type="join", booking_id=s.booking_id)
    (room_turn,) = (await paris.expect("joined"))["ice_servers"]
    assert turn.expiry_of(room_turn["username"]) == datetime(2027, 3, 16, 17, 15, tzinfo=UTC)
    assert (
        room_turn["credential"]
        == turn.credentials("north-pole", CANTINE_A, turn.expiry_of(room_turn["username"]))[1]
    )

    with pytest.raises(ConfigError, match="BOOTH_TURN_SECRET"):
        Config.load({}, {"BOOTH_TURN_URLS": "turns:turn.example.org:443?transport=tcp"})
    with pytest.raises(ConfigError, match="BOOTH_STUN_URLS.*stun:"):
        Config.load({}, {"BOOTH_STUN_URLS": "http://turn.example.org"})
    with pytest.raises(ConfigError, match="BOOTH_SIGNAL_IDLE_TIMEOUT"):
        Config.load({}, {"BOOTH_SIGNAL_IDLE_TIMEOUT": "soon"})
    loaded = Config.load(
        {},
        {
            "BOOTH_STUN_URLS": "stun:a.example:3478, stun:b.example:3478",
            "BOOTH_TURN_URLS": "turns:a.example:443?transport=tcp",
            "BOOTH_TURN_SECRET": "s3",
        },
    )
    assert loaded.stun_urls == ("stun:a.example:3478", "stun:b.example:3478")
    assert "s3" not in repr(loaded)


async def test_cancel_closes_the_room_and_changes_push_schedules(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    c = s.client
    paris, sf = await s.both_joined()
    idle = await s.connect(CANTINE_B, hello={"device_key": await pair(c, CANTINE_B, s.staff_paris)})
    assert idle.schedules[0]["bookings"] == []
    # A new booking on the idle booth: its schedule is pushed again (within the next 24 h).
    second = await book(c, s.ada, start="2027-03-17T15:00:00Z", booths=(CANTINE_B, SF_B))
    pushed = await idle.expect("schedule")
    assert [b["booking_id"] for b in pushed["bookings"]] == [second]
    moved = await c.patch(f"/api/v1/bookings/{second}", headers=s.ada, json={"start": "2027-03-17T15:15:00Z"})
    assert moved.status == 200
    assert (await idle.expect("schedule"))["bookings"][0]["start"] == "2027-03-17T15:15:00Z"
    assert (await c.delete(f"/api/v1/bookings/{second}", headers=s.ada)).status == 200
    assert (await idle.expect("schedule"))["bookings"] == []

    # Cancelling the live session closes its room; both booths are idle again.
    assert (await c.delete(f"/api/v1/bookings/{s.booking_id}", headers=s.staff_paris)).status == 200
    for booth in (paris, sf):
        await booth.expect("room_closed", reason="cancelled")
        assert (await booth.expect("schedule"))["bookings"] == []
    await paris.send(type="join", id="j", booking_id=s.booking_id)
    await paris.expect("error", code="cancelled", ref="j")
    await idle.silent(0.2)


async def test_moving_a_live_session_closes_its_room(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    response = await s.client.patch(
        f"/api/v1/bookings/{s.booking_id}",
        headers=s.staff_paris,
        json={"start": "2027-03-16T15:45:00Z", "override_reason": "partner is early"},
    )
    assert response.status == 200, await response.text()
    for booth in (paris, sf):
        await booth.expect("room_closed", reason="moved")  # not cancelled: it goes on elsewhen
        schedule = await booth.expect("schedule")
        assert schedule["bookings"][0]["start"] == "2027-03-16T15:45:00Z"
    closed_at = paris.last_seq
    await paris.send(type="join", booking_id=s.booking_id)  # the moved booking's room, afresh
    joined = await paris.expect("joined", start="2027-03-16T15:45:00Z", end="2027-03-16T16:45:00Z")
    assert joined["seq"] == closed_at + 1  # numbering goes on: no seq is reused in a booking

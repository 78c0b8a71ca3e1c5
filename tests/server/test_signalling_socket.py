"""The socket's hardening: origin, credentials, sizes, rate, heartbeat, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest

from tests.conftest import CANTINE_A, CANTINE_B, SF_A
from tests.server.signalling_support import PATH, Booth, Closed, booked_session, pair


async def _refused(s, code: int, frames: list[str]) -> dict:
    ws = await s.socket()
    for frame in frames:
        await ws.send_str(frame)
    error = await ws.receive_json(timeout=5)
    closing = await ws.receive(timeout=5)
    assert closing.type is aiohttp.WSMsgType.CLOSE and ws.close_code == code, (closing, ws.close_code)
    assert closing.extra == error["code"]
    return error


async def test_origin_allowlist_and_agents_without_origin(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, allowed_origins=("https://kiosk.example",))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await s.socket(origin="https://evil.example")
    assert refused.value.status == 403
    response = await s.client.get(
        PATH,
        headers={
            "Origin": "https://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert (await response.json())["error"]["code"] == "origin"
    # Without Origin (not a browser), only with the key in the Authorization header.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await s.client.ws_connect(PATH)
    assert refused.value.status == 403
    agent = Booth(await s.client.ws_connect(PATH, headers={"Authorization": f"Device {s.keys[SF_A]}"}))
    await agent.send(type="hello", version=1)
    assert (await agent.expect("welcome"))["booth_id"] == SF_A
    # The configured origin (Config.origin) and the extra allowed origin are accepted.
    for origin in ("http://127.0.0.1:8080", "https://kiosk.example"):
        booth = await s.connect(CANTINE_A, origin=origin)
        assert booth.booth_id == CANTINE_A
    # Header and hello must agree.
    ws = await s.client.ws_connect(PATH, headers={"Authorization": f"Device {s.keys[SF_A]}"})
    await ws.send_json({"type": "hello", "version": 1, "device_key": s.keys[CANTINE_A]})
    assert (await ws.receive_json())["code"] == "unauthorized"
    # A plain GET is not an upgrade.
    plain = await s.client.get(PATH, headers={"Origin": s.origin})
    assert plain.status == 400


async def test_credentials_version_and_first_message(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    hello = {"type": "hello", "version": 1}
    await _refused(s, 4001, [json.dumps({**hello, "device_key": "dk_not-a-key-that-anyone-issued"})])
    await _refused(s, 4001, [json.dumps(hello)])
    await _refused(s, 4001, [json.dumps({"type": "ping", "id": 1})])
    error = await _refused(s, 4003, [json.dumps({**hello, "version": 2, "device_key": s.keys[CANTINE_A]})])
    assert error["code"] == "unsupported_version"
    # Garbage before hello is answered and the socket waits for a valid hello.
    ws = await s.socket()
    await ws.send_str("nope")
    assert (await ws.receive_json())["code"] == "bad_json"
    await ws.send_json({**hello, "device_key": s.keys[CANTINE_A], "session_token": "st_1.1.1.xxxxxxxxxxxxxx"})
    assert (await ws.receive_json())["code"] == "invalid_message"
    await ws.send_json({**hello, "device_key": s.keys[CANTINE_A]})
    assert (await ws.receive_json())["type"] == "welcome"


async def test_oversize_frames_close_1009(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    await paris.send(type="offer", booking_id=s.booking_id, sdp="v=0\r\n" + "a" * (64 * 1024))
    before = await paris.expect_closed(1009, reason="message_too_big")
    assert before[-1]["code"] == "message_too_big"
    await sf.expect("peer_status", peer=CANTINE_A, state="reconnecting")  # the resume grace starts
    metrics = await (await s.client.get("/metrics")).text()
    assert 'sebastian_signal_errors_total{code="message_too_big"} 1.0' in metrics
    # Far over the limit the server stops reading at once: still 1009, and the reason is the
    # error code as for every close (there is no error message: the frame was never read).
    huge = await s.connect(CANTINE_B, hello={"device_key": await pair(s.client, CANTINE_B, s.staff_paris)})
    await huge.ws.send_str("x" * (256 * 1024))
    assert await huge.expect_closed(1009, reason="message_too_big") == []
    await sf.send(type="ping", id=1)
    await sf.expect("pong", ref=1)


async def test_rate_limit_errors_then_closes_1008(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    paris = await s.connect(CANTINE_A)
    with contextlib.suppress(ConnectionError):
        for i in range(200):
            await paris.ws.send_str(json.dumps({"type": "ping", "id": i}))
    before = await paris.expect_closed(1008)
    pongs = [m for m in before if m["type"] == "pong"]
    limited = [m for m in before if m.get("code") == "rate_limited"]
    assert len(pongs) >= 100  # the burst, plus what 50/s refilled while the frames came in
    assert len(limited) >= 10 and before[-1]["code"] == "rate_limited"


async def test_heartbeat_pings_and_drops_a_silent_socket(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, signal_heartbeat=0.1, signal_idle_timeout=1.0)
    alive = await s.connect(CANTINE_A)  # its client answers pings while it reads
    assert alive.welcome["heartbeat_interval"] == 1 and alive.welcome["idle_timeout"] == 1
    received: list[object] = []

    async def keep_reading() -> None:
        try:
            while True:
                received.append(await alive.recv(wait=10))
        except Closed as closed:
            received.append(closed)

    reader = asyncio.create_task(keep_reading())
    quiet = await s.socket(autoping=False)  # reads, but never answers a ping
    await quiet.send_json({"type": "hello", "version": 1, "device_key": s.keys[SF_A]})
    frames = []
    while True:
        frame = await quiet.receive(timeout=5)
        frames.append(frame)
        if frame.type is aiohttp.WSMsgType.CLOSE:
            break
    assert aiohttp.WSMsgType.PING in [f.type for f in frames]
    assert json.loads(frames[-2].data)["code"] == "idle_timeout"
    assert quiet.close_code == 4006
    await asyncio.sleep(0.3)
    assert not reader.done() and not any(isinstance(r, Closed) for r in received)
    reader.cancel()


async def test_socket_without_hello_is_closed_4004(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, signal_auth_timeout=0.3)
    ws = await s.socket()
    assert (await ws.receive_json(timeout=5))["code"] == "auth_timeout"
    await ws.receive(timeout=5)
    assert ws.close_code == 4004


async def test_graceful_shutdown_going_away_1001_and_readyz(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    assert (await s.client.get("/readyz")).status == 200
    paris, sf = await s.both_joined()
    # What the runner does on SIGTERM once it stopped listening; here the port stays open.
    shutdown = asyncio.create_task(s.client.app.shutdown())
    for booth in (paris, sf):
        before = await booth.expect_closed(1001)
        assert before[-1] == {"type": "server_going_away", "retry_after": 5}
    await asyncio.wait_for(shutdown, 2)
    ready = await s.client.get("/readyz")
    assert ready.status == 503 and (await ready.json())["status"] == "draining"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await s.socket()
    assert refused.value.status == 503


async def test_a_booth_that_stops_reading_holds_up_nobody_and_loses_nothing(
    make_client, sqlite_url, clock
) -> None:
    """The send path under backpressure: SF stops reading while Paris sends it more than the
    socket buffers hold. Paris is still served at once; when SF reads again it gets every
    message in order, and a close of the room queued behind them comes after them."""
    s = await booked_session(make_client, sqlite_url, clock)
    paris, sf = await s.both_joined()
    big = "v=0\r\n" + "a=x-filler:" + "f" * 59_900 + "\r\n"  # just under the 60,000-character limit
    sent = 0
    loop = asyncio.get_running_loop()
    for _ in range(3):  # bursts within the rate limit: 3 x 90 offers, 16 MB for a reader that waits
        for _ in range(90):
            await paris.send(type="offer", booking_id=s.booking_id, sdp=big)
            sent += 1
        started = loop.time()
        await paris.send(type="ping", id=sent)
        await paris.expect("pong", ref=sent)  # the stuck partner costs Paris nothing
        assert loop.time() - started < 2.0
        await asyncio.sleep(2.0)  # the rate limit's bucket refills
    cancelled = await s.client.delete(f"/api/v1/bookings/{s.booking_id}", headers=s.ada)
    assert cancelled.status == 200
    await paris.expect("room_closed", reason="cancelled")

    offers = 0
    while True:  # SF reads again: everything, in order (Booth.recv checks each seq), then the close
        message = await sf.expect("offer" if offers < sent else "room_closed", wait=20)
        if message["type"] == "room_closed":
            break
        offers += 1
    assert offers == sent

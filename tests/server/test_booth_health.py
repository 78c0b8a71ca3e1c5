"""Booth readiness without media: the self-test line and its errors, staff health and alerts,
and in-call ``call_stats`` (validation, metrics, the session's summary). Media flows only in
tests/media (the loopback-only namespace); here the echo process is started but never sent an
offer."""

from __future__ import annotations

from datetime import timedelta

from booth_server.selftest import SELFTESTS
from scheduler.health import SelfTestRecord
from tests.conftest import ADMIN, CANTINE_A, SF_A, token_for
from tests.server.signalling_support import booked_session, check_openapi, instant

STATS = {
    "rtt_ms": 95.0,
    "jitter_ms": 4.0,
    "loss_percent": 0.3,
    "bitrate_out_kbps": 1380.0,
    "bitrate_in_kbps": 1400.0,
    "frames_received": 298,
    "relayed": False,
}


async def test_call_stats_bad_input_is_refused_and_nothing_is_stored(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, at="2027-03-16T16:00:05Z")
    paris, sf = await s.both_joined()
    bad: list[tuple[dict[str, object], str]] = [
        ({k: v for k, v in STATS.items() if k != "rtt_ms"}, ""),  # missing
        ({**STATS, "loss_percent": 150}, "/loss_percent"),
        ({**STATS, "rtt_ms": -1}, "/rtt_ms"),
        ({**STATS, "bitrate_in_kbps": 1e12}, "/bitrate_in_kbps"),
        ({**STATS, "frames_received": 1.5}, "/frames_received"),
        ({**STATS, "relayed": "yes"}, "/relayed"),
        ({**STATS, "extra": 1}, ""),
    ]
    for number, (fields, path) in enumerate(bad):
        await paris.send(type="call_stats", id=number, booking_id=s.booking_id, **fields)
        error = await paris.expect("error", code="invalid_message", ref=number)
        if path:
            assert error["path"] == path, error
    await paris.send(type="call_stats", id="w", booking_id=s.booking_id + 1, **STATS)
    await paris.expect("error", code="wrong_room", ref="w")
    response = await s.client.get(f"/api/v1/bookings/{s.booking_id}/quality", headers=s.ada)
    assert (await response.json())["overall"] == {"samples": 0, "verdict": None}
    metrics = await (await s.client.get("/metrics")).text()
    assert "sebastian_call_rtt_seconds_count 0.0" in metrics


async def test_call_stats_sooner_than_a_second_after_the_last_are_dropped(
    make_client, sqlite_url, clock
) -> None:
    s = await booked_session(make_client, sqlite_url, clock, at="2027-03-16T16:00:05Z")
    paris, sf = await s.both_joined()
    await paris.send(type="call_stats", id=1, booking_id=s.booking_id, **STATS)
    await paris.send(type="call_stats", id=2, booking_id=s.booking_id, **{**STATS, "rtt_ms": 900.0})
    error = await paris.expect("error", code="rate_limited", ref=2)
    assert "nothing stored" in error["message"], error
    await sf.send(type="call_stats", id=3, booking_id=s.booking_id, **STATS)  # its own pace
    await sf.send(type="ping", id=3)
    await sf.expect("pong", ref=3)
    clock.advance(timedelta(seconds=1))
    await paris.send(type="call_stats", id=4, booking_id=s.booking_id, **STATS)
    await paris.send(type="ping", id=5)
    await paris.expect("pong", ref=5)  # no error before it: 4 was taken; the socket stays open
    response = await s.client.get(f"/api/v1/bookings/{s.booking_id}/quality", headers=s.ada)
    body = await response.json()
    assert {b["booth_id"]: b["samples"] for b in body["booths"]} == {CANTINE_A: 2, SF_A: 1}
    assert body["overall"]["rtt_ms_p95"] == 95.0  # the dropped 900 ms is nowhere
    metrics = await (await s.client.get("/metrics")).text()
    assert "sebastian_call_rtt_seconds_count 3.0" in metrics


async def test_call_stats_feed_metrics_and_the_session_summary(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, at="2027-03-16T16:00:05Z")
    idle = await s.connect(CANTINE_A)
    await idle.send(type="call_stats", id="n", booking_id=s.booking_id, **STATS)
    await idle.expect("error", code="not_in_room", ref="n")
    await idle.ws.close()
    paris, sf = await s.both_joined()
    for rtt, loss in [(90.0, 0.2), (95.0, 0.3), (400.0, 0.4)]:
        await paris.send(
            type="call_stats", booking_id=s.booking_id, **{**STATS, "rtt_ms": rtt, "loss_percent": loss}
        )
        await paris.send(type="ping", id=rtt)
        await paris.expect("pong", ref=rtt)  # taken (no reply of its own): then 10 s pass
        clock.advance(timedelta(seconds=10))
    await sf.send(type="call_stats", booking_id=s.booking_id, **{**STATS, "relayed": True})
    await paris.silent()  # accepted: no reply
    metrics = ""
    for _ in range(50):  # the last sample may still be on its way to the database
        metrics = await (await s.client.get("/metrics")).text()
        if "sebastian_call_rtt_seconds_count 4.0" in metrics:
            break
        await sf.silent(0.05)
    assert "sebastian_call_rtt_seconds_count 4.0" in metrics
    assert 'sebastian_call_bitrate_bits_per_second_count{direction="in"} 4.0' in metrics
    assert 'sebastian_call_rtt_seconds_bucket{le="0.1"} 3.0' in metrics
    assert "sebastian_call_loss_ratio_sum 0.012" in metrics  # 0.002 + 0.003 + 0.004 + 0.003
    response = await s.client.get(f"/api/v1/bookings/{s.booking_id}/quality", headers=s.staff_sf)
    assert response.status == 200
    body = await response.json()
    check_openapi("CallQuality", body)
    overall = body["overall"]
    assert overall["samples"] == 4 and overall["rtt_ms_p50"] == 95.0 and overall["rtt_ms_p95"] == 400.0
    assert overall["text"] == "p50 round trip 95 ms, 0.3 % loss, 1.4 Mbit/s"
    booths = {b["booth_id"]: b for b in body["booths"]}
    assert booths[CANTINE_A]["samples"] == 3 and booths[CANTINE_A]["relayed"] is False
    assert booths[SF_A]["relayed"] is True
    assert (await s.client.get(f"/api/v1/bookings/{s.booking_id}/quality")).status == 401


async def test_selftests_turned_off(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)  # the test default: off
    paris = await s.connect(CANTINE_A)
    await paris.send(type="selftest_start", id=1, trigger="kiosk_start")
    error = await paris.expect("error", code="selftest_unavailable", ref=1)
    assert "BOOTH_SELFTEST" in error["message"]


async def test_selftest_errors_when_the_echo_is_unreachable_or_the_test_unknown(
    make_client, sqlite_url, clock
) -> None:
    s = await booked_session(make_client, sqlite_url, clock, selftest=True, echo_url="http://127.0.0.1:9")
    paris = await s.connect(CANTINE_A)
    await paris.send(type="selftest_start", id=1, trigger="kiosk_start")
    error = await paris.expect("error", code="selftest_unavailable", ref=1)
    assert "cannot be reached" in error["message"]
    sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    await paris.send(type="selftest_offer", id=2, test_id="st_notarealtest1", leg="direct", sdp=sdp)
    await paris.expect("error", code="unknown_test", ref=2)
    await paris.send(type="selftest_start", id=3, trigger="sometime")
    assert (await paris.expect("error", code="invalid_message", ref=3))["path"] == "/trigger"


async def test_selftests_queue_beyond_the_echo_capacity(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, selftest=True, echo_capacity=1)
    paris, sf = await s.connect(CANTINE_A), await s.connect(SF_A)
    await paris.send(type="selftest_start", trigger="kiosk_start")
    first = await paris.expect("selftest_ready", wait=40)  # the echo process starts first
    assert [leg["leg"] for leg in first["legs"]] == ["direct"] and first["media_seconds"] == 10
    await sf.send(type="selftest_start", trigger="manual")
    queued = await sf.expect("selftest_queued", position=0)
    await sf.send(type="selftest_start", id="again", trigger="manual")
    await sf.expect("error", code="unexpected_message", ref="again")
    # Paris reports (its one leg never connected): its result frees the slot for SF.
    legs = [{"leg": "direct", "connected": False, "error": "ICE failed"}]
    await paris.send(
        type="selftest_report", test_id=first["test_id"], camera=True, microphone=True, legs=legs
    )
    result = await paris.expect("selftest_result")
    assert result["verdict"] == "poor" and result["problems"] == ["no_connection"]
    assert result["paths"] == [{"leg": "direct", "works": False}]
    second = await sf.expect("selftest_ready")
    assert second["test_id"] == queued["test_id"]
    # Staff ask Paris (a booth that runs self-tests) to test again: it gets the request.
    response = await s.client.post(f"/api/v1/booths/{CANTINE_A}/selftest", headers=s.staff_paris)
    assert response.status == 202
    await paris.expect("selftest_request", trigger="staff")
    # SF is testing: asking it is a conflict; so is asking a booth that never ran one.
    assert (await s.client.post(f"/api/v1/booths/{SF_A}/selftest", headers=s.staff_sf)).status == 409
    assert (await s.client.post(f"/api/v1/booths/{SF_A}/selftest", headers=s.staff_paris)).status == 403


async def test_staff_health_and_alerts(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock, at="2027-03-16T15:20:00Z")
    admin = await token_for(s.client, ADMIN)
    response = await s.client.get("/api/v1/health/booths", headers=admin)
    body = await response.json()
    check_openapi("BoothHealth", body)
    booths = {b["booth_id"]: b for b in body["booths"]}
    assert booths[CANTINE_A]["alert"] == "offline" and booths[SF_A]["alert"] == "offline"
    assert booths[CANTINE_A]["next_session"]["booking_id"] == s.booking_id
    assert all(b["alert"] is None for i, b in booths.items() if i not in (CANTINE_A, SF_A))
    paris, sf = await s.connect(CANTINE_A), await s.connect(SF_A)
    health = s.client.app[SELFTESTS].health
    at = instant("2027-03-16T15:19:00Z")
    for booth, verdict in ((CANTINE_A, "poor"), (SF_A, "good")):
        await health.add_selftest(
            SelfTestRecord(
                test_id=f"st_recorded{booth}xx",
                booth_id=booth,
                trigger="opening",
                booking_id=None,
                started_at=at - timedelta(seconds=12),
                finished_at=at,
                verdict=verdict,
                score=2.1 if verdict == "poor" else 4.4,
                figures={"path": "relay_udp", "rtt_ms": 700.0, "loss_percent": 12.0},
                paths={"relay_udp": True, "direct": False},
                problems=["high_round_trip", "high_loss"] if verdict == "poor" else [],
            )
        )
    body = await (await s.client.get("/api/v1/health/booths", headers=s.staff_paris)).json()
    check_openapi("BoothHealth", body)
    booths = {b["booth_id"]: b for b in body["booths"]}
    assert SF_A not in booths  # staff see their own venue
    paris_health = booths[CANTINE_A]
    assert paris_health["online"] is True and paris_health["alert"] == "poor"
    assert paris_health["last_selftest"]["finished_at"] == "2027-03-16T15:19:00Z"
    assert paris_health["last_selftest"]["problems"] == ["high_round_trip", "high_loss"]
    sf_health = (await (await s.client.get("/api/v1/health/booths", headers=s.staff_sf)).json())["booths"]
    assert [b["alert"] for b in sf_health if b["booth_id"] == SF_A] == [None]
    history = await (await s.client.get(f"/api/v1/booths/{CANTINE_A}/selftests", headers=admin)).json()
    check_openapi("SelfTestHistory", history)
    assert [t["verdict"] for t in history["selftests"]] == ["poor"]
    assert (await s.client.get("/api/v1/health/booths", headers=s.ada)).status == 403
    await paris.ws.close()
    await sf.ws.close()


async def test_the_server_asks_for_tests_at_opening_and_before_each_session(
    make_client, sqlite_url, clock
) -> None:
    # Tuesday 16 March 2027: Paris (UTC+1) opens at 09:00 = 08:00Z; the session is at 16:00Z.
    s = await booked_session(make_client, sqlite_url, clock, selftest=True, at="2027-03-16T06:00:00Z")
    tests = s.client.app[SELFTESTS]
    paris, sf = await s.connect(CANTINE_A), await s.connect(SF_A)
    await tests.ask_when_due(instant("2027-03-16T06:00:00Z"))
    await sf.silent()  # SF never ran a self-test: it is never asked (it may not speak section 13)
    await paris.send(type="selftest_start", trigger="kiosk_start")
    ready = await paris.expect("selftest_ready", wait=40)
    legs = [{"leg": "direct", "connected": False}]
    await paris.send(
        type="selftest_report", test_id=ready["test_id"], camera=True, microphone=True, legs=legs
    )
    await paris.expect("selftest_result")
    await tests.ask_when_due(instant("2027-03-16T07:59:00Z"))
    await paris.silent()  # before opening
    await tests.ask_when_due(instant("2027-03-16T08:01:00Z"))
    await paris.expect("selftest_request", trigger="opening")
    await tests.ask_when_due(instant("2027-03-16T08:02:00Z"))
    await paris.silent()  # once a day
    await tests.ask_when_due(instant("2027-03-16T15:49:00Z"))
    await paris.silent()  # 11 minutes before: not yet
    await tests.ask_when_due(instant("2027-03-16T15:50:30Z"))
    await paris.expect("selftest_request", trigger="before_session", booking_id=s.booking_id)
    await tests.ask_when_due(instant("2027-03-16T15:52:00Z"))
    await paris.silent()  # once per session
    await sf.silent()


async def test_a_report_of_what_held_the_video_back_is_checked_and_a_busy_cpu_is_not_the_network(
    make_client, sqlite_url, clock
) -> None:
    s = await booked_session(make_client, sqlite_url, clock, selftest=True)
    paris = await s.connect(CANTINE_A)
    await paris.send(type="selftest_start", trigger="manual")
    ready = await paris.expect("selftest_ready", wait=40)
    media = {
        "leg": "direct", "connected": True, "media": True, "rtt_ms": 2.0, "jitter_ms": 3.0,
        "loss_percent": 0.0, "bitrate_up_kbps": 92.0, "bitrate_down_kbps": 90.0, "frames_received": 140,
    }  # fmt: skip
    report = {"type": "selftest_report", "test_id": ready["test_id"], "camera": True, "microphone": True}
    await paris.send(**report, id="gpu", legs=[{**media, "video_limited_by": "gpu"}])
    error = await paris.expect("error", code="invalid_message", ref="gpu")
    assert error["path"] == "/legs/0/video_limited_by"
    admin = await token_for(s.client, ADMIN)
    history = f"/api/v1/booths/{CANTINE_A}/selftests"
    assert (await (await s.client.get(history, headers=admin)).json())["selftests"] == []
    # The encoder said its CPU held it back: 90 kbit/s is no low_bitrate, the network is good.
    await paris.send(**report, legs=[{**media, "video_limited_by": "cpu"}])
    result = await paris.expect("selftest_result")
    assert result["verdict"] == "good" and result["problems"] == ["device_busy"], result
    assert result["figures"]["video_limited_by"] == "cpu"
    (stored,) = (await (await s.client.get(history, headers=admin)).json())["selftests"]
    assert stored["problems"] == ["device_busy"] and stored["figures"]["video_limited_by"] == "cpu"
    await paris.ws.close()

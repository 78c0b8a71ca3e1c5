"""The real kiosk page (/kiosk) runs its self-tests by itself, in real Chromium against the real
echo process: when it starts, when the venue opens, 10 minutes before its session and when
staff press "Test now" in the console; it shows the verdict in the booth's language, and says
when it waits in line for the echo. A fake camera that films black (Chromium's
``--use-file-for-fake-video-capture``) is flagged."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from booth_server.selftest import SELFTESTS
from tests.browser.conftest import log_in
from tests.conftest import ADMIN, CANTINE_A, SF_A, STAFF_PARIS, token_for
from tests.media.conftest import SELFTEST_CONFIG, Session, booked_session, launch_chromium
from webrtc.agent import signalling_url
from webrtc.limits import PROTOCOL_VERSION

pytestmark = [pytest.mark.media, pytest.mark.browser]

BEFORE_OPENING = datetime(2027, 3, 16, 7, 0, tzinfo=UTC)  # 08:00 in Paris, which opens at 09:00
AFTER_OPENING = datetime(2027, 3, 16, 8, 1, tzinfo=UTC)
BEFORE_SESSION = datetime(2027, 3, 16, 15, 50, 30, tzinfo=UTC)  # the session is at 16:00Z


def set_clock(session: Session, instant: datetime) -> None:
    session.clock.advance(instant - session.clock.now())


async def open_kiosk(browser: Any, session: Session, key: str, locale: str) -> Any:
    """A kiosk paired through its form, as staff pair a booth."""
    context = await browser.new_context(locale=locale)
    page = await context.new_page()
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    await page.goto(session.origin + "/kiosk")
    await page.fill("#device-key", key)
    await page.click("#pair-form [type=submit]")
    return page


async def selftests_of(session: Session, booth: int, count: int, within: float = 90) -> list[dict[str, Any]]:
    """The booth's stored self-tests, oldest first, once there are ``count`` of them."""
    client = session.client
    headers = await token_for(client, ADMIN)
    deadline = time.monotonic() + within
    while True:
        body = await (await client.get(f"/api/v1/booths/{booth}/selftests", headers=headers)).json()
        if len(body["selftests"]) >= count:
            return list(reversed(body["selftests"]))
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(body['selftests'])} self-tests of booth {booth} after {within} s")
        await asyncio.sleep(0.2)


async def banner(page: Any, verdict: str) -> str:
    """The kiosk's self-test banner's text once it shows ``verdict``."""
    shown = page.locator(f"#selftest-banner[data-verdict={verdict}]")
    await shown.wait_for(timeout=60000)
    return str(await shown.inner_text())


async def test_the_kiosk_tests_itself_at_start_opening_before_its_session_and_on_staff_demand(
    browser: Any, tmp_path: Path
) -> None:
    async with booked_session(tmp_path, **SELFTEST_CONFIG) as session:
        set_clock(session, BEFORE_OPENING)
        kiosk = await open_kiosk(browser, session, session.paris_key, "fr-FR")
        try:
            # At start: the test, and the verdict in the booth's language (French here).
            words = await banner(kiosk, "good")
            assert "Caméra, micro et connexion prêts." in words
            (started,) = await selftests_of(session, CANTINE_A, 1)
            assert started["trigger"] == "kiosk_start" and started["verdict"] == "good", started
            assert started["figures"]["echo_video_frames"] > 0 and started["figures"]["black_percent"] < 20

            # The venue opens: the server asks, the kiosk tests.
            set_clock(session, AFTER_OPENING)
            await session.client.app[SELFTESTS].ask_when_due(session.clock.now())
            opening = (await selftests_of(session, CANTINE_A, 2))[-1]
            assert opening["trigger"] == "opening" and opening["verdict"] == "good", opening

            # Staff press "Test now" in the console.
            staff = await (await browser.new_context(locale="en-US")).new_page()
            try:
                await staff.goto(session.origin + "/staff")
                await log_in(staff, STAFF_PARIS)
                await staff.click('#health-rows button[aria-label="Test now: Cantine A"]:enabled')
                asked = (await selftests_of(session, CANTINE_A, 3))[-1]
                assert asked["trigger"] == "staff" and asked["verdict"] == "good", asked
                await staff.reload()
                row = staff.locator("#health-rows tr", has_text="Cantine A")
                await row.locator(".verdict.good").wait_for()
                assert "✓ direct" in await row.inner_text()
            finally:
                await staff.context.close()

            # 10 minutes before the session (before its room opens at 15:55): the server asks.
            set_clock(session, BEFORE_SESSION)
            await session.client.app[SELFTESTS].ask_when_due(session.clock.now())
            before = (await selftests_of(session, CANTINE_A, 4))[-1]
            assert before["trigger"] == "before_session", before
            assert before["booking_id"] == session.booking_id and before["verdict"] == "good"
            assert kiosk.problems == []
        finally:
            await kiosk.context.close()


def black_y4m(path: Path, width: int = 320, height: int = 240, frames: int = 15) -> Path:
    """A Y4M video of black frames (luma 16, neutral chroma): a camera with its cover on."""
    frame = b"FRAME\n" + bytes([16]) * (width * height) + bytes([128]) * (width * height // 2)
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path


async def test_a_camera_that_films_black_is_flagged_on_the_kiosk(tmp_path: Path) -> None:
    video = black_y4m(tmp_path / "black.y4m")
    async with (
        booked_session(tmp_path, **SELFTEST_CONFIG) as session,
        launch_chromium(f"--use-file-for-fake-video-capture={video}") as browser,
    ):
        set_clock(session, BEFORE_OPENING)
        kiosk = await open_kiosk(browser, session, session.sf_key, "en-US")
        words = await banner(kiosk, "poor")
        assert "This booth is not ready for a call." in words
        assert "The camera sends a black picture: remove the cover or check the lens." in words
        (stored,) = await selftests_of(session, SF_A, 1)
        assert stored["trigger"] == "kiosk_start" and "black_video" in stored["problems"], stored
        assert stored["figures"]["black_percent"] >= 80
        assert stored["figures"]["echo_video_frames"] > 0  # the camera does send: black frames
        assert "microphone_silent" not in stored["problems"]  # the fake microphone still beeps


async def test_a_kiosk_waiting_for_the_echo_says_so_then_tests(browser: Any, tmp_path: Path) -> None:
    """One test at a time (``BOOTH_ECHO_CAPACITY=1``): while the Paris booth holds the echo, the
    San Francisco kiosk's start-up test waits in line and its banner says so."""
    async with booked_session(tmp_path, **SELFTEST_CONFIG, echo_capacity=1) as session:
        set_clock(session, BEFORE_OPENING)
        headers = {"Authorization": f"Device {session.paris_key}"}
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(signalling_url(session.origin), headers=headers) as paris,
        ):
            await paris.send_json({"type": "hello", "version": PROTOCOL_VERSION, "client": "booth-agent"})
            assert (await paris.receive_json(timeout=15))["type"] == "welcome"
            await paris.send_json({"type": "selftest_start", "trigger": "manual"})
            ready = await next_of(paris, "selftest_ready")
            kiosk = await open_kiosk(browser, session, session.sf_key, "en-US")
            try:
                waiting = kiosk.locator("#selftest-banner", has_text="Waiting for the connection check")
                await waiting.wait_for(timeout=30000)
                assert "(1 before this booth)" in await waiting.inner_text()
                legs = [{"leg": "direct", "connected": False, "error": "held by the test"}]
                await paris.send_json(
                    {"type": "selftest_report", "test_id": ready["test_id"], "camera": True,
                     "microphone": True, "legs": legs}
                )  # fmt: skip
                assert (await next_of(paris, "selftest_result"))["verdict"] == "poor"
                assert "Camera, microphone and connection are ready." in await banner(kiosk, "good")
                (stored,) = await selftests_of(session, SF_A, 1)
                assert stored["trigger"] == "kiosk_start" and stored["verdict"] == "good"
            finally:
                await kiosk.context.close()


async def next_of(ws: Any, kind: str, within: float = 60) -> dict[str, Any]:
    """The next message of type ``kind`` on a raw signalling socket (others are passed over)."""
    deadline = time.monotonic() + within
    while True:
        message: dict[str, Any] = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
        if message["type"] == kind:
            return message

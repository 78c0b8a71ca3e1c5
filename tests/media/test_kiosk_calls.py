"""Two real kiosk pages (/kiosk), a Paris booth and a San Francisco booth, in real calls.

Run inside the loopback-only network namespace by ``tests/server/test_media_namespace.py`` (the
``browser`` fixture and the namespace check come from ``tests/media/conftest.py``). Each kiosk
has its own browser context, as two booths have two browsers: the device key lives in each
one's localStorage. Frames are counted in the page with ``requestVideoFrameCallback``.

The session: Tuesday 16 March 2027, 16:00–16:15 UTC (17:00 in Paris, 09:00 in San Francisco,
an 8-hour week). The server runs on the test clock; moving it makes the room's countdowns and
end fire, as the real minutes would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booth_server.app import create_app
from booth_server.clock import Clock
from booth_server.config import Config
from tests.conftest import ADA, ADMIN, CANTINE_A, SF_A, token_for
from tests.media.kiosk import (
    COUNT_FRAMES,
    assert_no_gap_no_duplicate,
    frames_at_least,
    in_call,
    longest_frame_gap,
    room_seqs,
    until,
)
from tests.nodes import free_port

pytestmark = [pytest.mark.media, pytest.mark.browser]

START = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)
END = START + timedelta(minutes=15)
FRAMES = 30
WIDE = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


@dataclass
class Booked:
    """The server (restartable on the same port and database), the session and both device keys."""

    database: str
    clock: Clock
    port: int
    client: TestClient[Any, Any] | None = None
    booking_id: int = 0
    keys: dict[int, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = create_app(Config(database=self.database, demo=True), clock=self.clock)
        self.client = TestClient(TestServer(app, host="127.0.0.1", port=self.port))
        await self.client.start_server()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def set_clock(self, instant: datetime) -> None:
        self.clock.advance(instant - self.clock.now())


@pytest.fixture
async def booked(tmp_path: Path) -> AsyncIterator[Booked]:
    env = Booked(
        f"sqlite:///{tmp_path / 'kiosk.db'}", Clock(datetime(2027, 3, 1, 12, 0, tzinfo=UTC)), free_port()
    )
    await env.start()
    try:
        client = env.client
        assert client is not None
        response = await client.post(
            "/api/v1/bookings",
            headers=await token_for(client, ADA),
            json={
                "booths": [CANTINE_A, SF_A],
                "start": "2027-03-16T16:00:00Z",
                "duration_minutes": 15,
                "title": "Paris meets San Francisco",
            },
        )
        assert response.status == 201, await response.text()
        env.booking_id = (await response.json())["id"]
        admin = await token_for(client, ADMIN)
        for booth in (CANTINE_A, SF_A):
            issued = await client.post(f"/api/v1/booths/{booth}/device-key", headers=admin)
            env.keys[booth] = (await issued.json())["device_key"]
        yield env
    finally:
        await env.stop()


@pytest.fixture
async def kiosk_pages(browser: Any) -> AsyncIterator[Any]:
    """``await kiosk_pages(env, booth, locale=..., viewport=...)``: a kiosk page paired through its form."""
    contexts: list[Any] = []

    async def open_kiosk(
        env: Booked, booth: int, *, locale: str = "en-US", viewport: dict[str, int] = WIDE
    ) -> Any:
        context = await browser.new_context(locale=locale, viewport=viewport)
        contexts.append(context)
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.problems = problems
        await page.goto(env.origin + "/kiosk")
        await page.fill("#device-key", env.keys[booth])
        await page.click("#pair-form [type=submit]")
        await until(page, "Boolean(window.kiosk && window.kiosk.connection)")
        await page.evaluate(COUNT_FRAMES)
        return page

    yield open_kiosk
    for context in contexts:
        await context.close()


async def test_kiosks_join_at_the_start_see_each_other_get_the_warnings_and_end(
    booked: Booked, kiosk_pages: Any
) -> None:
    # The room opens 5 minutes before the start: a few seconds from now. Until then, each kiosk
    # shows its idle screen with the session in its own time and the partner city's.
    booked.set_clock(START - timedelta(minutes=5, seconds=8))
    pages = []
    for booth, locale, local, partner in (
        (CANTINE_A, "fr-FR", "17:00–17:15", "09:00 à San Francisco"),
        (SF_A, "en-US", "09:00–09:15", "17:00 in Paris"),
    ):
        page = await kiosk_pages(booked, booth, locale=locale)
        await page.wait_for_selector("body[data-screen=idle][data-conn-state=idle]", state="attached")
        session = page.locator(".k-session", has_text=local)
        await session.wait_for()
        assert partner in await session.inner_text()
        pages.append(page)
    paris, sf = pages

    # Nobody presses anything: both join when the room opens and see each other.
    for page in (paris, sf):
        await in_call(page, within=20)
    assert await frames_at_least(paris, FRAMES) >= FRAMES
    assert await frames_at_least(sf, FRAMES) >= FRAMES
    for page in (paris, sf):
        assert await page.evaluate("document.getElementById('remote-video').videoWidth") > 0
        assert await page.evaluate("document.getElementById('self-video').videoWidth") > 0
    assert "San Francisco · SF A" in await paris.inner_text("#partner-name")
    assert "Paris · Cantine A" in await sf.inner_text("#partner-name")
    assert "Analytical Engines SAS" in await sf.inner_text("#partner-detail")
    assert "Réservé par Analytical Engines SAS" in await paris.inner_text("#partner-detail")
    assert (await sf.inner_text("#remaining")).startswith("Starts in 4:")

    SCREENSHOTS.mkdir(exist_ok=True)
    await paris.screenshot(path=str(SCREENSHOTS / "kiosk-call-1920x1080.png"))
    await sf.set_viewport_size(PHONE)
    await sf.screenshot(path=str(SCREENSHOTS / "kiosk-call-390x844.png"))
    await sf.set_viewport_size(WIDE)

    # Five minutes before the end, then one: both kiosks warn, with the time left.
    booked.set_clock(END - timedelta(minutes=5) + timedelta(seconds=1))
    for page in (paris, sf):
        await page.wait_for_selector("#warning[data-kind=warn5]:not([hidden])", timeout=10_000)
    assert await sf.inner_text("#warning") == "5 minutes left"
    assert await paris.inner_text("#warning") == "Plus que 5 minutes"
    assert (await sf.inner_text("#remaining")).startswith("4:5")
    await sf.screenshot(path=str(SCREENSHOTS / "kiosk-warning-1920x1080.png"))
    await paris.set_viewport_size(PHONE)
    await paris.screenshot(path=str(SCREENSHOTS / "kiosk-warning-390x844.png"))
    await paris.set_viewport_size(WIDE)
    booked.set_clock(END - timedelta(seconds=59))
    for page in (paris, sf):
        await page.wait_for_selector("#warning[data-kind=warn1]:not([hidden])", timeout=10_000)
    assert await sf.get_attribute("#remaining", "data-level") == "last"

    # The end of the slot ends the call on both sides; the kiosks go back to their idle screen.
    booked.set_clock(END + timedelta(seconds=1))
    for page in (paris, sf):
        await page.wait_for_selector("#notice[data-kind=ended]:not([hidden])", timeout=10_000)
    assert await sf.inner_text("#notice") == "The session has ended. Thank you!"
    for page in (paris, sf):
        await page.wait_for_selector(
            "body[data-screen=idle][data-conn-state=idle]", state="attached", timeout=15_000
        )
        assert await page.evaluate("document.getElementById('remote-video').srcObject") is None
        assert await page.locator(".k-session").count() == 0
        assert page.problems == []


async def test_a_kiosk_whose_socket_is_cut_resumes_the_call(booked: Booked, kiosk_pages: Any) -> None:
    booked.set_clock(START + timedelta(seconds=1))
    paris = await kiosk_pages(booked, CANTINE_A)
    # Paris is first in the room: its partner has not arrived.
    await paris.wait_for_selector("#notice[data-kind=waiting]:not([hidden])", timeout=15_000)
    assert await paris.inner_text("#notice") == "Your partner in San Francisco has not arrived yet."
    sf = await kiosk_pages(booked, SF_A)
    for page in (paris, sf):
        await in_call(page)
        await frames_at_least(page, FRAMES)

    # The network drops the Paris kiosk's socket; the media path between the booths survives.
    await paris.evaluate("window.kiosk.connection._ws.close()")
    await until(paris, "window.kioskStates.includes('reconnecting')", 5)
    await in_call(paris, within=15)
    before = [int(await page.evaluate("window.kioskFrames")) for page in (paris, sf)]
    assert await frames_at_least(paris, before[0] + FRAMES) >= before[0] + FRAMES
    assert await frames_at_least(sf, before[1] + FRAMES) >= before[1] + FRAMES
    for page in (paris, sf):
        # Resumed, not restarted: still the one remote stream of the first call.
        assert await page.evaluate("window.kioskStreams") == 1
        assert await page.evaluate("window.kiosk.connection.bookingId") == booked.booking_id
        assert page.problems == []
    assert await sf.is_hidden("#notice")


async def test_kiosks_resume_their_call_after_a_server_restart(booked: Booked, kiosk_pages: Any) -> None:
    booked.set_clock(START + timedelta(seconds=1))
    paris = await kiosk_pages(booked, CANTINE_A)
    sf = await kiosk_pages(booked, SF_A)
    for page in (paris, sf):
        await in_call(page)
        await frames_at_least(page, FRAMES)

    # A deploy: the server goes away (server_going_away) and comes back on the same port and
    # database, and rebuilds its rooms from the log it wrote. Both kiosks reconnect after
    # retry_after (+ jitter) and resume: the call is never restarted.
    before = [int(await page.evaluate("window.kioskFrames")) for page in (paris, sf)]
    await booked.stop()
    await booked.start()
    for page in (paris, sf):
        await until(page, "window.kioskWelcomes.some((w) => w.resumed)", 25)
        await in_call(page, within=10)
    for page, seen in zip((paris, sf), before, strict=True):
        assert await frames_at_least(page, seen + FRAMES) >= seen + FRAMES
        assert await longest_frame_gap(page, seen) < 1.0  # media is peer to peer: never cut
        assert await page.evaluate("window.kioskStreams") == 1  # resumed, not a new call
        assert await page.evaluate("window.kioskWelcomes.map((w) => w.resync)") == [False]
        assert await page.evaluate("window.kiosk.connection.bookingId") == booked.booking_id
        assert_no_gap_no_duplicate(await room_seqs(page))
        assert page.problems == []

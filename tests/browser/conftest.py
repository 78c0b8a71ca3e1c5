"""The browser client in the system Chromium, driven by Playwright (no media: no network namespace).

One Chromium for the whole run (``asyncio_default_*_loop_scope = session``), a fresh context per
page so storage never leaks between tests, and after the run no live Chromium process may remain.
Under ``CI=true`` a missing ``/usr/bin/chromium`` or Playwright fails the run; elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_service
from tests.processes import descendants, live_chromium

CHROMIUM = os.environ.get("SEBASTIAN_CHROMIUM", "/usr/bin/chromium")
#: The flags of docs/testing.md; fake camera and microphone so the kiosk's check works without hardware.
CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
WIDE = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240  (once per run)
        missing_service("Chromium", f"{CHROMIUM} does not exist (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        missing_service("Playwright", str(exc))
    flags = [*CHROMIUM_FLAGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
    seen = live_chromium(descendants(os.getpid()))
    try:
        yield browser
    finally:
        seen = sorted({*seen, *live_chromium(descendants(os.getpid()))})
        await browser.close()
        await playwright.stop()
        for _ in range(100):  # zombies clear within 1-3 s (docs/testing.md); allow 10
            if not live_chromium(seen):
                break
            await asyncio.sleep(0.1)
        assert not live_chromium(seen), f"Chromium processes still alive after the run: {live_chromium(seen)}"


PageFactory = Callable[..., Any]


@pytest.fixture
async def new_page(browser: Any) -> AsyncIterator[PageFactory]:
    """``await new_page(locale="fr-FR", timezone_id=..., viewport=...)``: a page in its own context.

    Uncaught page errors and console errors are collected in ``page.problems``; tests assert it
    stays empty. API refusals (4xx) are expected and shown by the page, so Chromium's "Failed to
    load resource ... status of 4xx" lines do not count.
    """
    contexts: list[Any] = []

    async def make(
        *,
        locale: str = "en-US",
        timezone_id: str = "America/New_York",
        viewport: dict[str, int] | None = None,
        **options: Any,
    ) -> Any:
        context = await browser.new_context(
            locale=locale,
            timezone_id=timezone_id,
            viewport=viewport or WIDE,
            accept_downloads=True,
            **options,
        )
        contexts.append(context)
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))

        def console(message: Any) -> None:
            if message.type == "error" and "the server responded with a status of 4" not in message.text:
                problems.append(f"console: {message.text}")

        page.on("console", console)
        page.problems = problems
        return page

    yield make
    for context in contexts:
        await context.close()


async def screenshot(page: Any, name: str) -> Path:
    """Save the page at 1920×1080 and at 390×844 (full length) into tests/screenshots/; check that
    nothing is wider than a phone's screen."""
    SCREENSHOTS.mkdir(exist_ok=True)
    size = page.viewport_size
    await page.set_viewport_size(WIDE)
    await page.wait_for_timeout(150)
    path = SCREENSHOTS / f"{name}-1920x1080.png"
    await page.screenshot(path=str(path), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(150)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-390x844.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: the page is {width}px wide at phone width"
    if size:
        await page.set_viewport_size(size)
    return path


async def log_in(page: Any, email: str, password: str = "sister-cities-demo") -> None:
    await page.fill("#login-email", email)
    await page.fill("#login-password", password)
    await page.click("#login-form [type=submit]")

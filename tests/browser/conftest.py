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

from tests.conftest import ADMIN, missing_service, token_for
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
    if width > PHONE["width"]:
        wide = await page.evaluate(
            """(limit) => [...document.querySelectorAll('body *')]
                .filter((e) => e.getBoundingClientRect().right > limit + 1)
                .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)""",
            PHONE["width"],
        )
        raise AssertionError(f"{name}: the page is {width}px wide at phone width, past it: {wide}")
    if size:
        await page.set_viewport_size(size)
    return path


async def book_slot(page: Any, start: str, title: str) -> None:
    """Click the week's slot that starts at ``start`` (UTC) and submit the booking dialog."""
    await page.click(f'.slot[data-start="{start}"]')
    await page.fill("#book-title-input", title)
    await page.click("#book-form [type=submit]")


async def taken_meanwhile(client: Any, start: str) -> None:
    """Someone else (the demo admin, over the API) books Cantine A and SF A at ``start``."""
    response = await client.post(
        "/api/v1/tokens", json={"email": "admin@demo.sebastian.example", "password": "sister-cities-demo"}
    )
    token = (await response.json())["token"]
    taken = await client.post(
        "/api/v1/bookings",
        headers={"Authorization": f"Bearer {token}"},
        json={"booths": [1, 3], "start": start, "duration_minutes": 60, "title": "First"},
    )
    assert taken.status == 201, await taken.text()


async def issue_key(client: Any, booth_id: int) -> str:
    """A new device key for the booth, issued by the demo admin over the API."""
    response = await client.post(
        f"/api/v1/booths/{booth_id}/device-key", headers=await token_for(client, ADMIN)
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["device_key"])


async def log_in(page: Any, email: str, password: str = "sister-cities-demo") -> None:
    await page.fill("#login-email", email)
    await page.fill("#login-password", password)
    await page.click("#login-form [type=submit]")


# -- accessibility (axe-core from npm) and stray text -----------------------------------------

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: "page state, language, size" -> violations per impact; printed at the end of the run.
AXE_FIGURES: dict[str, dict[str, int]] = {}


async def axe_violations(page: Any, label: str) -> list[dict[str, Any]]:
    """Run axe-core (the npm package, injected from node_modules) on the page as it is now.

    Records the count per impact under ``label`` for the run's summary and returns the
    violations (id, impact, help, and the first few target selectors)."""
    if not AXE.exists():
        missing_service("axe-core", f"{AXE} does not exist (run `npm ci`)")
    if not await page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through the debugging protocol: the pages' Content-Security-Policy
        # (script-src 'self') rightly refuses an injected <script>.
        await page.evaluate(AXE.read_text() + "\n;typeof window.axe")
    violations: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ['violations'] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
            }));
        }"""
    )
    counts = {impact: 0 for impact in ("critical", "serious", "moderate", "minor")}
    for violation in violations:
        counts[violation["impact"] or "minor"] += 1
    AXE_FIGURES[label] = counts
    return violations


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not AXE_FIGURES:
        return
    terminalreporter.section("axe-core violations per page (rules violated, by impact)")
    terminalreporter.write_line(f"{'page, language, size':<48} critical serious moderate minor")
    for label, counts in sorted(AXE_FIGURES.items()):
        terminalreporter.write_line(
            f"{label:<48} {counts['critical']:>8} {counts['serious']:>7} {counts['moderate']:>8} {counts['minor']:>5}"
        )

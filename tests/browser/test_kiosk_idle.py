"""The booth kiosk before and between sessions (no call, so no media and no network namespace):
pairing with a device key, the idle screen on the server's clock, the coming sessions with the
partner city's time and who booked them, the camera check, unpairing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser.conftest import issue_key, screenshot
from tests.browser.relay import Relay
from tests.conftest import ADA, ADMIN, CANTINE_A, SF_A, token_for

pytestmark = pytest.mark.browser


async def test_pair_then_idle_screen_on_server_time(client: Any, new_page: Any) -> None:
    ada = await token_for(client, ADA)
    booked = await client.post(
        "/api/v1/bookings",
        headers=ada,
        json={
            "booths": [CANTINE_A, SF_A],
            "start": "2027-03-01T16:00:00Z",
            "duration_minutes": 60,
            "title": "Seed round",
        },
    )
    assert booked.status == 201, await booked.text()
    issued = await client.post(
        f"/api/v1/booths/{CANTINE_A}/device-key", headers=await token_for(client, ADMIN)
    )
    key = (await issued.json())["device_key"]

    # The kiosk's own zone is San Francisco's, its machine clock says 2026: neither matters.
    page = await new_page(timezone_id="America/Los_Angeles")
    await page.goto(str(client.make_url("/kiosk")))
    await page.wait_for_selector("body[data-screen=pair]", state="attached")
    await page.fill("#device-key", "dk_not-a-real-key-at-all")
    await page.click("#pair-form [type=submit]")
    await page.locator("#pair-form .field-error[data-error-for=device_key]").wait_for()
    assert await page.evaluate("localStorage.getItem('sebastian.kiosk.deviceKey')") is None

    await page.fill("#device-key", key)
    await page.click("#pair-form [type=submit]")
    await page.wait_for_selector("body[data-conn-state=idle]", state="attached")
    assert key not in page.url
    assert await page.evaluate("localStorage.getItem('sebastian.kiosk.deviceKey')") == key
    assert await page.inner_text("#booth-name") == "Cantine A · La Cantine"
    assert await page.text_content("#booth-city") == "Paris"
    # 12:00 UTC on the server clock is 13:00 in Paris, on Monday 1 March 2027.
    assert (await page.inner_text("#clock")).startswith("13:0")
    assert "March 1, 2027" in await page.inner_text("#clock-date")
    assert "Europe/Paris · UTC+1" in await page.inner_text("#clock-zone")
    session = page.locator(".k-session")
    await session.wait_for()
    text = await session.inner_text()
    assert "17:00–18:00" in text and "San Francisco" in text and "08:00 in San Francisco" in text
    assert "Booked by Analytical Engines SAS" in text
    await screenshot(page, "kiosk-idle")

    # A reload keeps the pairing: no key to type again, nothing in the URL.
    await page.reload()
    await page.wait_for_selector("body[data-conn-state=idle]", state="attached")
    assert await page.is_visible("#idle-screen")

    # The camera and microphone check (Chromium's fake devices).
    await page.click("#check-button")
    await page.locator("#check-result[data-ok=true]").wait_for(timeout=10_000)
    assert await page.inner_text("#check-result") == "Camera and microphone work."
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#check-dialog:not([open])", state="attached")

    # Unpairing asks twice, then forgets the key.
    await page.click("#unpair-button")
    await page.click("#unpair-button")
    await page.wait_for_selector("body[data-screen=pair]", state="attached")
    assert await page.evaluate("localStorage.getItem('sebastian.kiosk.deviceKey')") is None
    await screenshot(page, "kiosk-pair")
    assert page.problems == []


async def test_a_revoked_key_sends_the_kiosk_back_to_pairing(client: Any, new_page: Any) -> None:
    admin = await token_for(client, ADMIN)
    key = (await (await client.post(f"/api/v1/booths/{SF_A}/device-key", headers=admin)).json())["device_key"]
    page = await new_page(locale="fr-FR")
    await page.goto(str(client.make_url("/kiosk")))
    await page.fill("#device-key", key)
    await page.click("#pair-form [type=submit]")
    await page.wait_for_selector("body[data-conn-state=idle]", state="attached")
    assert await page.text_content("#booth-city") == "San Francisco"
    assert await page.text_content("#next-heading") == "Prochaines sessions"

    assert (await client.delete(f"/api/v1/booths/{SF_A}/device-key", headers=admin)).status == 204
    await page.wait_for_selector("body[data-screen=pair]", state="attached", timeout=10_000)
    assert "plus valable" in await page.inner_text("#pair-form .field-error")
    assert page.problems == []


async def test_offline_with_the_next_try_then_back_by_itself(client: Any, new_page: Any) -> None:
    """The server goes away (connections reset, new ones refused): the kiosk says it is offline
    and when it tries again, on the booth's clock; once the server is back it is online again."""
    admin = await token_for(client, ADMIN)
    key = (await (await client.post(f"/api/v1/booths/{CANTINE_A}/device-key", headers=admin)).json())[
        "device_key"
    ]
    relay = Relay(client.port)
    await relay.start()
    try:
        page = await new_page(locale="fr-FR")
        await page.goto(f"{relay.origin}/kiosk")
        await page.fill("#device-key", key)
        await page.click("#pair-form [type=submit]")
        await page.wait_for_selector("body[data-conn-state=idle]", state="attached")
        assert await page.inner_text("#conn-status") == "En ligne"

        await relay.cut()
        status = page.locator("#conn-status[data-state=offline]")
        await status.wait_for(timeout=15_000)
        text = await status.inner_text()
        match = re.fullmatch(
            r"Hors ligne : le serveur est injoignable\. Nouvelle tentative à (\d\d):(\d\d):(\d\d)\.", text
        )
        assert match, text
        # The next try is on the kiosk's clock (Paris, server time), within the 30 s backoff cap.
        clock = await page.evaluate(
            "import('/static/time.js').then((tm) => tm.timeWithSeconds(tm.serverNow(), 'Europe/Paris', 'fr'))"
        )
        shown = [int(part) for part in match.groups()]
        now = [int(part) for part in clock.split(":")]
        ahead = (shown[0] * 3600 + shown[1] * 60 + shown[2]) - (now[0] * 3600 + now[1] * 60 + now[2])
        assert -2 <= ahead <= 31, (text, clock)
        await screenshot(page, "kiosk-offline")

        await relay.restore()
        await page.locator("#conn-status[data-state=idle]").wait_for(timeout=40_000)
        assert await page.inner_text("#conn-status") == "En ligne"
        # Chromium logs each refused connection itself; nothing else may go wrong.
        refused = ("ERR_CONNECTION_REFUSED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE")
        assert [p for p in page.problems if not any(r in p for r in refused)] == []
    finally:
        await relay.close()


async def test_a_mistyped_key_is_told_so_not_that_it_expired(client: Any, new_page: Any) -> None:
    page = await new_page()
    await page.goto(str(client.make_url("/kiosk")))
    await page.fill("#device-key", "dk_mistyped")
    await page.click("#pair-form [type=submit]")
    error = page.locator("#pair-form .field-error[data-error-for=device_key]")
    await error.wait_for()
    text = await error.inner_text()
    assert text.startswith("This device key is not known here. Check that it was copied whole")
    assert "any more" not in text
    assert await error.get_attribute("role") == "alert"
    assert await page.evaluate("document.activeElement.id") == "device-key"
    assert page.problems == []


async def _paired(page: Any, origin: str, key: str) -> None:
    await page.goto(f"{origin}/kiosk")
    await page.fill("#device-key", key)
    await page.click("#pair-form [type=submit]")
    await page.wait_for_selector("body[data-conn-state=idle]", state="attached")


async def test_a_booth_opened_on_another_screen_says_so_and_can_take_it_back(
    client: Any, new_page: Any
) -> None:
    key = await issue_key(client, CANTINE_A)
    origin = str(client.make_url("/")).rstrip("/")
    first = await new_page(locale="fr-FR")
    await _paired(first, origin, key)
    second = await new_page()
    await _paired(second, origin, key)
    # The server closes the first screen's connection (4005 replaced): it says why and what to do.
    await first.wait_for_selector("body[data-screen=message]", state="attached")
    text = await first.inner_text("#message-text")
    assert text == (
        "Cette cabine a été ouverte sur un autre écran, qui mène désormais ses sessions. "
        "Fermez cet écran-là, ou rechargez celui-ci pour les mener ici."
    )
    assert await first.get_attribute("#message-text", "role") == "alert"
    assert await first.evaluate("document.activeElement.id") == "reload-button"
    await screenshot(first, "kiosk-replaced")
    # Reloading takes the booth back; now the other screen is told.
    await first.click("#reload-button")
    await first.wait_for_selector("body[data-conn-state=idle]", state="attached")
    await second.wait_for_selector("body[data-screen=message]", state="attached")
    assert (await second.inner_text("#message-text")).startswith("This booth was opened on another screen")
    assert first.problems == [] and second.problems == []


async def test_a_kiosk_older_than_the_server_is_told_to_reload(client: Any, new_page: Any) -> None:
    """The page speaks protocol version 2 here (its hello rewritten on the way): the real server
    answers unsupported_version and closes 4003, after which the kiosk must not retry."""
    key = await issue_key(client, CANTINE_A)
    page = await new_page()

    async def newer_protocol(ws: Any) -> None:
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            if isinstance(message, str) and '"type":"hello"' in message.replace(" ", ""):
                message = json.dumps({**json.loads(message), "version": 2})
            server.send(message)

        ws.on_message(forward)

    await page.route_web_socket(re.compile(r".*/api/v1/signalling$"), newer_protocol)
    await page.goto(str(client.make_url("/kiosk")))
    await page.fill("#device-key", key)
    await page.click("#pair-form [type=submit]")
    await page.wait_for_selector("body[data-screen=message]", state="attached")
    text = await page.inner_text("#message-text")
    assert text == "This kiosk page is older than the server. Reload the page to update it."
    assert await page.evaluate("document.activeElement.id") == "reload-button"
    assert page.problems == []

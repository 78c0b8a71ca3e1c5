"""The booth kiosk before and between sessions (no call, so no media and no network namespace):
pairing with a device key, the idle screen on the server's clock, the coming sessions with the
partner city's time and who booked them, the camera check, unpairing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot
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

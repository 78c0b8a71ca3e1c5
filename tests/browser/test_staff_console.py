"""The staff console in Chromium: device keys and who is online (a booth connected over the real
websocket from Python), opening hours, closures, booking with an override, utilization chart."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.browser.conftest import issue_key, log_in, screenshot
from tests.conftest import ADMIN, CANTINE_A, STAFF_PARIS

pytestmark = pytest.mark.browser

PARIS = 1


async def _booth_socket(client: Any, device_key: str) -> aiohttp.ClientWebSocketResponse:
    """A booth as the signalling protocol has it: a websocket and a hello with the device key.

    Not a browser, so no Origin: the key goes in the upgrade's Authorization header too."""
    ws = await client.ws_connect("/api/v1/signalling", headers={"Authorization": f"Device {device_key}"})
    await ws.send_str(
        json.dumps({"type": "hello", "version": 1, "device_key": device_key, "client": "test/1"})
    )
    welcome = json.loads((await ws.receive(timeout=5)).data)
    assert welcome["type"] == "welcome" and welcome["booth_id"] == CANTINE_A, welcome
    return ws


async def _closed_by_server(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the server closes the socket; the close code."""
    while (message := await ws.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
        assert json.loads(message.data)["type"] in ("error", "schedule"), message.data
    return ws.close_code


async def test_issue_rotate_revoke_keys_and_see_booths_online(client: Any, new_page: Any) -> None:
    page = await new_page(timezone_id="Europe/Paris")
    await page.goto(str(client.make_url("/staff")))
    await log_in(page, STAFF_PARIS)
    await page.locator("#venue-name", has_text="La Cantine · Paris").wait_for()
    assert await page.is_hidden("#venue-picker")  # staff manage their own venue only
    row = page.locator(f"#booth-{CANTINE_A}")
    await row.locator(".status.offline").wait_for()
    # A booth without a key offers only to issue one.
    await row.locator(".key-cell", has_text="No key").wait_for()
    assert await row.get_by_role("button", name="Revoke key: Cantine A").count() == 0

    await row.get_by_role("button", name="Issue key: Cantine A").click()
    first = (await page.locator("#device-key").inner_text()).strip()
    assert first.startswith("dk_")
    assert await page.evaluate("document.activeElement.id") == "device-key"
    assert await page.is_hidden(".key-replaced")

    # The row now says when the key was issued (the venue's time, 24-hour) and that it is unused.
    key_cell = row.locator(".key-cell")
    await key_cell.locator("text=not used yet").wait_for()
    assert "Key issued Mar 1, 2027, 13:00" in await key_cell.inner_text()

    ws = await _booth_socket(client, first)
    try:
        await row.locator(".status.online").wait_for(timeout=10_000)
        assert "Online" in await row.inner_text()
        await key_cell.locator("text=last used Mar 1, 2027, 13:0").wait_for(timeout=10_000)
        await screenshot(page, "staff-booths-online")
        # Rotating asks first, since the kiosk using the current key stops at once.
        await row.get_by_role("button", name="Rotate key: Cantine A").click()
        dialog = page.get_by_role("dialog", name="Replace this booth’s key?")
        await dialog.wait_for()
        assert "Cantine A already has a key" in await dialog.inner_text()
        assert await page.evaluate("document.activeElement.id") == "rotate-keep"
        await dialog.get_by_role("button", name="Back").click()  # changing one's mind changes nothing
        await dialog.wait_for(state="hidden")
        assert await page.locator("#device-key").inner_text() == first
        await row.get_by_role("button", name="Rotate key: Cantine A").click()
        await dialog.get_by_role("button", name="Replace the key").click()
        await page.wait_for_selector(".key-replaced")
        second = (await page.locator("#device-key").inner_text()).strip()
        assert second.startswith("dk_") and second != first
        assert await _closed_by_server(ws) == 4001
    finally:
        await ws.close()
    await row.locator(".status.offline").wait_for(timeout=10_000)

    ws = await _booth_socket(client, second)
    try:
        await row.locator(".status.online").wait_for(timeout=10_000)
        # Revoking: the booth goes offline and cannot come back with that key.
        await row.get_by_role("button", name="Revoke key: Cantine A").click()
        await page.locator("#toast", has_text="Key revoked").wait_for()
        assert await _closed_by_server(ws) == 4001
    finally:
        await ws.close()
    await row.locator(".status.offline").wait_for(timeout=10_000)
    ws = await client.ws_connect(
        "/api/v1/signalling", headers={"Origin": str(client.make_url("/")).rstrip("/")}
    )
    await ws.send_str(json.dumps({"type": "hello", "version": 1, "device_key": second}))
    assert await _closed_by_server(ws) == 4001

    # A new booth for the venue.
    await page.fill("#booth-name", "Cantine C")
    await page.click("#booth-form [type=submit]")
    new_row = page.locator("#booth-rows tr", has_text="Cantine C")
    await new_row.locator(".status.offline").wait_for()
    assert any(
        b["name"] == "Cantine C" and b["venue_id"] == PARIS
        for b in (await (await client.get("/api/v1/booths")).json())["booths"]
    )
    assert page.problems == []


async def test_hours_closures_override_and_utilization(client: Any, new_page: Any) -> None:
    page = await new_page(timezone_id="America/Los_Angeles")
    await page.goto(str(client.make_url("/staff")))
    await log_in(page, STAFF_PARIS)
    await page.wait_for_selector("#console:not([hidden])")
    # The venue's own clock, not the viewer's: 12:00 UTC is 13:00 in Paris.
    assert "13:0" in await page.inner_text("#venue-clock")
    assert "Europe/Paris" in await page.inner_text("#venue-clock")

    # Open on Saturday mornings.
    saturday = page.get_by_role("group", name="Saturday")
    await saturday.get_by_role("button", name="Saturday: Add hours").click()
    await saturday.get_by_label("Saturday: Opens").fill("10:00")
    await saturday.get_by_label("Saturday: Closes").fill("14:00")
    await page.click("#hours-form [type=submit]")
    await page.locator("#toast", has_text="Opening hours saved").wait_for()
    venue = next(v for v in (await (await client.get("/api/v1/venues")).json())["venues"] if v["id"] == PARIS)
    assert venue["opening_hours"]["sat"] == [["10:00", "14:00"]]

    # A closure, in the venue's wall time, then removed.
    await page.fill("#closure-start-day", "2027-03-16")
    await page.fill("#closure-start-time", "14:00")
    await page.fill("#closure-end-day", "2027-03-16")
    await page.fill("#closure-end-time", "19:00")
    await page.fill("#closure-reason", "Staff training")
    await page.click("#closure-form [type=submit]")
    closure = page.locator(".closure", has_text="Staff training")
    await closure.wait_for()
    assert "14:00–19:00" in await closure.inner_text()
    # Ending before it starts is refused next to the "Until" field.
    await page.fill("#closure-start-day", "2027-03-18")
    await page.fill("#closure-start-time", "14:00")
    await page.fill("#closure-end-day", "2027-03-18")
    await page.fill("#closure-end-time", "10:00")
    await page.fill("#closure-reason", "Backwards")
    await page.click("#closure-form [type=submit]")
    await page.locator("#closure-form .field-error[data-error-for=end]").wait_for()
    await closure.get_by_role("button").click()
    await closure.wait_for(state="detached")

    # Booking in 30 minutes breaks the 2-hour notice rule: refused next to the date...
    await page.fill("#ov-time", "13:30")
    await page.select_option("#ov-duration", "30")
    await page.fill("#ov-title", "Mayor's visit")
    await page.click("#override-form [type=submit]")
    refused = page.locator("#override-form .field-error[data-error-for=start]")
    await refused.wait_for()
    # ...and accepted with a reason, which the agenda shows.
    await page.fill("#ov-reason", "Protocol visit, approved by the director")
    await page.click("#override-form [type=submit]")
    item = page.locator(".agenda-item", has_text="Mayor's visit")
    await item.wait_for()
    text = await item.inner_text()
    assert "13:30–14:00" in text and "04:30 in San Francisco" in text
    assert "Protocol visit" in text and "Sebastian Admin" not in text

    # The chart counts it: 30 of Cantine A's 3000 open minutes this week (1%).
    chart = page.get_by_role("img", name="Utilization per booth per week at La Cantine")
    await chart.wait_for()
    table = await page.locator("#chart table").inner_text()
    assert "1%" in table
    assert await page.locator("#chart svg rect.bar-0").count() >= 1
    await screenshot(page, "staff-console")
    assert page.problems == []


async def test_admin_switches_venue(client: Any, new_page: Any) -> None:
    page = await new_page()
    await page.goto(str(client.make_url("/staff")))
    await log_in(page, ADMIN)
    await page.wait_for_selector("#console:not([hidden])")
    await page.select_option("#venue-select", label="San Francisco — Mission Bay Commons")
    await page.locator("#venue-name", has_text="Mission Bay Commons").wait_for()
    assert "America/Los_Angeles" in await page.inner_text("#venue-clock")
    await page.locator("#booth-rows tr", has_text="SF A").wait_for()
    # The choice is remembered.
    await page.reload()
    await page.locator("#venue-name", has_text="Mission Bay Commons").wait_for()

    # Logging out shows the sign-in form with focus in it.
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_selector("#signin:not([hidden])")
    assert await page.evaluate("document.activeElement.id") == "login-email"

    # An entrepreneur is sent back to the booking site.
    other = await new_page()
    await other.goto(str(client.make_url("/staff")))
    await log_in(other, "ada@demo.sebastian.example")
    await other.wait_for_selector("#not-staff:not([hidden])")
    assert page.problems == [] and other.problems == []


async def test_a_booth_that_cannot_test_now_is_explained_in_the_interface_language(
    client: Any, new_page: Any
) -> None:
    """ "Test now" on a booth whose client runs no self-tests (a bare websocket here): the API's
    409 ``booth_unavailable`` is told in words and a next step, announced, never the server's
    English message or the code."""
    key = await issue_key(client, CANTINE_A)
    ws = await _booth_socket(client, key)
    try:
        page = await new_page(locale="fr-FR", timezone_id="Europe/Paris")
        await page.goto(str(client.make_url("/staff")))
        await log_in(page, STAFF_PARIS)
        button = page.get_by_role("button", name="Tester\u00a0: Cantine A")
        await page.locator(f"#health-rows tr[data-booth-id='{CANTINE_A}'] button:not([disabled])").wait_for()
        await button.click()
        alert = page.locator("#toast [role=alert]")
        await alert.wait_for()
        text = await alert.inner_text()
        assert text.startswith("Cette cabine ne peut pas se tester maintenant"), text
        assert "Réessayez" in text and "booth_unavailable" not in text and "the booth" not in text
        assert page.problems == []
    finally:
        await ws.close()

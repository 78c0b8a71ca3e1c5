"""The booking app in Chromium: register, find a slot in an 8-hour week, book, see both cities'
times, download the .ics, reschedule and cancel; errors next to their fields; keyboard use.

The server clock is the ``clock`` fixture, Monday 1 March 2027 12:00 UTC. The week of 15 March
2027 is an 8-hour week (the US went to summer time on 14 March, Europe goes on 28 March), so
17:00 in Paris is 09:00 in San Francisco; the next week is back to 9 hours.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import book_slot, log_in, screenshot, taken_meanwhile
from tests.conftest import ADA

pytestmark = pytest.mark.browser

PITCH_START = "2027-03-16T16:00:00Z"  # Tuesday 16 March: 17:00 Paris, 09:00 SF, 12:00 New York


async def _week_of_15_march(page: Any) -> None:
    await page.click("#week-next")
    await page.click("#week-next")
    await page.wait_for_selector(f'.slot[data-start="{PITCH_START}"]')


async def test_register_book_in_an_8_hour_week_and_download_the_ics(client: Any, new_page: Any) -> None:
    page = await new_page(timezone_id="America/New_York")
    await page.goto(str(client.make_url("/")))
    await page.wait_for_selector("body[data-ready]", state="attached")

    # Register; a bad password is refused next to the password field.
    await page.click("#tab-register")
    await page.fill("#register-name", "Grace Hopper")
    await page.fill("#register-company", "Compilers Inc.")
    await page.fill("#register-email", "grace@example.com")
    await page.fill("#register-password", "short")
    await page.click("#register-form [type=submit]")
    error = page.locator('#register-form .field-error[data-error-for="password"]')
    await error.wait_for()
    assert "10" in await error.inner_text()
    assert await page.get_attribute("#register-password", "aria-invalid") == "true"
    await page.fill("#register-password", "a long enough password")
    await page.click("#register-form [type=submit]")
    await page.wait_for_selector("#mine:not([hidden])")
    assert "Grace Hopper" in await page.inner_text("#account")

    # The week of 15 March: an 8-hour week, and the page says so.
    await _week_of_15_march(page)
    banner = page.locator("#gap-banner")
    text = await banner.inner_text()
    assert "Paris and San Francisco are 8 hours apart" in text
    assert "San Francisco is already on summer time" in text
    assert "banner-alert" in (await banner.get_attribute("class") or "")
    legend = await page.inner_text("#legend")
    assert "Paris · UTC+1" in legend and "San Francisco · UTC−7" in legend and "New York" in legend
    await screenshot(page, "booking-week")

    slot = page.locator(f'.slot[data-start="{PITCH_START}"]')
    assert [t.strip() for t in await slot.locator(".slot-clock").all_inner_texts()] == [
        "17:00",
        "09:00",
        "12:00",
    ]
    # Its accessible name is the visible times with the words around them (WCAG 2.5.3).
    name = "Tuesday, March 16: 17:00 in Paris, 09:00 in San Francisco, 12:00 your time"
    assert await slot.aria_snapshot() == f"- 'button \"{name}\"'"

    # Book it (keyboard: the slot is a button; Enter opens the dialog).
    await slot.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#book-dialog[open]")
    summary = await page.inner_text("#book-summary")
    assert "17:00–18:00" in summary and "09:00–10:00" in summary and "12:00–13:00" in summary
    await page.fill("#book-title-input", "Pitch to Mission Bay")
    await page.click("#book-form [type=submit]")
    card = page.locator(".session", has_text="Pitch to Mission Bay")
    await card.wait_for()
    times = await card.locator(".when").all_inner_texts()
    assert any("Paris" in t and "17:00–18:00" in t for t in times), times
    assert any("San Francisco" in t and "09:00–10:00" in t for t in times), times
    assert any("New York" in t and "12:00–13:00" in t for t in times), times
    # The booked slot is gone from the week.
    await page.wait_for_selector(f'.slot[data-start="{PITCH_START}"]', state="detached")

    # The .ics download (calendar API) holds the same instant.
    async with page.expect_download() as download_info:
        await card.get_by_role("link", name="Download .ics").click()
    download = await download_info.value
    ics = (await download.path()).read_text()
    assert "BEGIN:VCALENDAR" in ics and "Pitch to Mission Bay" in ics
    assert "20270316T160000Z" in ics or "TZID=Europe/Paris:20270316T170000" in ics

    # The webcal link for calendar apps.
    await page.click("#feed-button")
    await page.wait_for_selector("#feed-result:not([hidden])")
    assert (await page.input_value("#feed-url")).startswith("webcal://")
    await screenshot(page, "booking-sessions")

    # Europe changes its clocks on Sunday 28 March; from the week after, 9 hours as usual, calmly.
    await page.click("#week-next")
    await page.wait_for_function("document.querySelector('#gap-banner').textContent.includes('Sunday')")
    assert "8 hours, then 9 hours from Sunday, March 28" in await banner.inner_text()
    await page.click("#week-next")
    await page.wait_for_function(
        "document.querySelector('#gap-banner').textContent.includes('are 9 hours apart')"
    )
    assert "banner-calm" in (await banner.get_attribute("class") or "")
    assert page.problems == []


async def test_reschedule_then_cancel(client: Any, new_page: Any) -> None:
    page = await new_page(timezone_id="Europe/Paris")
    await page.goto(str(client.make_url("/")))
    await log_in(page, ADA)
    await page.wait_for_selector("#mine:not([hidden])")
    await _week_of_15_march(page)
    await book_slot(page, PITCH_START, "Board meeting")
    card = page.locator(".session", has_text="Board meeting")
    await card.wait_for()
    # A viewer in Paris sees no third "your time" line: it would repeat Paris.
    assert await card.locator(".when-you").count() == 0

    assert await page.locator(f'.slot[data-start="{PITCH_START}"]').count() == 0  # booked
    await card.get_by_role("button", name="Reschedule").click()
    await page.wait_for_selector("#reschedule-banner:not([hidden])")
    # While it moves, the session's own place is offered again.
    await page.wait_for_selector(f'.slot[data-start="{PITCH_START}"]')
    await page.click('.slot[data-start="2027-03-17T16:30:00Z"]')
    assert await page.inner_text("#book-dialog-title") == "Move the session here"
    await page.click("#book-form [type=submit]")
    await page.locator(".session .when", has_text="17:30–18:30").first.wait_for()
    assert await page.is_hidden("#reschedule-banner")

    await card.get_by_role("button", name="Cancel").click()
    await page.click("#cancel-confirm")
    await page.wait_for_selector("#mine-list .empty")
    past = page.locator("#mine-past .session.cancelled", has_text="Board meeting")
    assert await past.count() == 1
    # Its slot is free again.
    await page.wait_for_selector('.slot[data-start="2027-03-17T16:30:00Z"]')
    assert page.problems == []


async def test_api_errors_show_next_to_what_they_are_about(client: Any, new_page: Any) -> None:
    page = await new_page()
    await page.goto(str(client.make_url("/")))
    await log_in(page, ADA, "not the password")
    error = page.locator("#login-form .field-error[data-error-for=password]")
    await error.wait_for()
    assert await error.inner_text() == "Wrong email or password. Check both and try again."

    await page.fill("#login-password", "sister-cities-demo")
    await page.click("#login-form [type=submit]")
    await page.wait_for_selector("#mine:not([hidden])")
    await _week_of_15_march(page)
    # Someone else takes the slot while the dialog is open: the conflict shows on the slot summary.
    await page.click(f'.slot[data-start="{PITCH_START}"]')
    await page.fill("#book-title-input", "Too late")
    await taken_meanwhile(client, PITCH_START)
    await page.click("#book-form [type=submit]")
    note = page.locator("#book-summary .field-error")
    await note.wait_for()
    assert "Someone has just booked Cantine A in Paris, 17:00–18:00 Paris time" in await note.inner_text()
    assert await note.get_attribute("role") == "alert"  # read out at once
    # Behind the dialog the week no longer offers the taken slot.
    await page.wait_for_selector(f'.slot[data-start="{PITCH_START}"]', state="detached")
    # Escape closes the dialog; focus goes to the week's one tab stop, as the slot is gone.
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#book-dialog:not([open])", state="attached")
    assert await page.evaluate("document.activeElement.classList.contains('slot')")
    assert await page.evaluate("document.activeElement.tabIndex") == 0
    assert page.problems == []

"""A first-time user's path through the booking app: the week by keyboard (one tab stop, arrow
keys, Home/End, Page Up/Down), a slot chosen before logging in or registering that is still
there after, logging out back to the login form, confirmations that stay until dismissed and
never cover the page on a phone, and dates and times in the interface's form, not the browser's.

The server clock is Monday 1 March 2027 12:00 UTC; the week of 15 March is shown (see
test_booking_app.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import PHONE, WIDE, book_slot, log_in, screenshot
from tests.conftest import ADA, STAFF_PARIS

pytestmark = pytest.mark.browser

PITCH_START = "2027-03-16T16:00:00Z"  # Tuesday 16 March, 17:00 in Paris

ACTIVE_CELL = """() => {
    const el = document.activeElement;
    const row = el && el.closest('[role=row]');
    return el && el.dataset.cell ? { cell: el.dataset.cell, day: row && row.dataset.day, start: el.dataset.start || null } : null;
}"""


async def _show_week_of_15_march(page: Any) -> None:
    await page.fill("#week-date", "2027-03-16")
    await page.wait_for_selector(f'.slot[data-start="{PITCH_START}"]')


async def test_the_week_by_keyboard(client: Any, new_page: Any) -> None:
    page = await new_page(timezone_id="Europe/Paris")
    await page.goto(str(client.make_url("/")))
    await log_in(page, ADA)
    await page.wait_for_selector("#mine:not([hidden])")
    await _show_week_of_15_march(page)

    grid = page.get_by_role("grid")
    assert await grid.count() == 1
    assert await page.locator("#week-grid [tabindex='0']").count() == 1  # one tab stop
    assert await page.locator("#week-grid [role=row]").count() == 7

    # From the top of the page (the skip link is the first stop), Tab reaches the week's first
    # free slot after the page's controls.
    await page.focus(".skip-link")
    presses = 1
    while (await page.evaluate(ACTIVE_CELL)) is None:
        await page.keyboard.press("Tab")
        presses += 1
        assert presses < 40, "the week grid is not reachable by Tab"
    print(f"\nTab presses from the top of the page to the week grid: {presses}")
    first = await page.evaluate(ACTIVE_CELL)
    assert first["day"] == "2027-03-15"
    # One more Tab leaves the grid: it is one stop, not one per slot.
    await page.keyboard.press("Tab")
    assert await page.evaluate(ACTIVE_CELL) is None
    await page.keyboard.press("Shift+Tab")
    assert await page.evaluate(ACTIVE_CELL) == first

    # Right: the nearest slot of the next day; four times from Monday is Friday.
    for _ in range(4):
        await page.keyboard.press("ArrowRight")
    friday = await page.evaluate(ACTIVE_CELL)
    assert friday["day"] == "2027-03-19"
    print(f"Keys from the top of the page to a Friday slot: {presses + 4} (was 52 Tab presses)")
    # Down and Up move within the day, in time order.
    await page.keyboard.press("ArrowDown")
    later = await page.evaluate(ACTIVE_CELL)
    assert later["day"] == "2027-03-19" and later["start"] > friday["start"]
    await page.keyboard.press("ArrowUp")
    assert await page.evaluate(ACTIVE_CELL) == friday
    # Home and End: the day's first and last slot; with Ctrl, the week's.
    await page.keyboard.press("End")
    last = await page.evaluate(ACTIVE_CELL)
    slots_friday = await page.locator("[role=row][data-day='2027-03-19'] .slot").all()
    assert last["start"] == await slots_friday[-1].get_attribute("data-start")
    await page.keyboard.press("Home")
    assert (await page.evaluate(ACTIVE_CELL))["start"] == await slots_friday[0].get_attribute("data-start")
    await page.keyboard.press("Control+Home")
    assert (await page.evaluate(ACTIVE_CELL))["day"] == "2027-03-15"
    await page.keyboard.press("Control+End")
    assert (await page.evaluate(ACTIVE_CELL))["day"] == "2027-03-21"  # Sunday: "no free slot", focusable
    # Left from Sunday: back to Saturday's nearest slot or its "no free slot" cell.
    await page.keyboard.press("ArrowLeft")
    assert (await page.evaluate(ACTIVE_CELL))["day"] == "2027-03-20"

    # Page Down: the next week, focus stays in the grid.
    label = await page.inner_text("#week-label")
    await page.keyboard.press("PageDown")
    await page.wait_for_function(f"document.querySelector('#week-label').textContent !== {label!r}")
    await page.wait_for_function("document.activeElement && document.activeElement.closest('#week-grid')")
    assert (await page.evaluate(ACTIVE_CELL))["day"] >= "2027-03-22"
    await page.keyboard.press("PageUp")
    await page.wait_for_function(f"document.querySelector('#week-label').textContent === {label!r}")
    # The week is drawn twice: while its slots load (focus on a placeholder cell), then with
    # them (focus on the first slot); Enter means something only on the second.
    await page.wait_for_function(
        "document.activeElement && document.activeElement.matches('#week-grid .slot')"
    )
    # Enter books the focused slot.
    await page.keyboard.press("Control+Home")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#book-dialog[open]")
    assert page.problems == []


async def test_the_slot_chosen_before_logging_in_or_registering_is_kept(client: Any, new_page: Any) -> None:
    page = await new_page(timezone_id="Europe/Paris")
    await page.goto(str(client.make_url("/")))
    await page.wait_for_selector("body[data-ready]", state="attached")
    await _show_week_of_15_march(page)
    # Logged out, on the registration tab: the slot asks for an account, focus in the form.
    await page.click("#tab-register")
    await page.click(f'.slot[data-start="{PITCH_START}"]')
    assert await page.evaluate("document.activeElement.id") == "register-name"
    assert "Log in or create an account to book this slot" in await page.inner_text("#toast")
    await page.fill("#register-name", "Katherine Johnson")
    await page.fill("#register-email", "katherine@example.com")
    await page.fill("#register-password", "orbital-mechanics")
    await page.click("#register-form [type=submit]")
    # Registered and logged in: the slot is offered at once.
    await page.wait_for_selector("#book-dialog[open]")
    assert "17:00–18:00" in await page.inner_text("#book-summary")
    assert await page.evaluate("document.activeElement.id") == "book-title-input"
    await page.keyboard.press("Escape")

    # Logging out shows the login form (not the registration form) with focus in it.
    await page.click("#logout")
    await page.wait_for_selector("#auth:not([hidden])")
    assert await page.is_visible("#login-form") and await page.is_hidden("#register-form")
    assert await page.get_attribute("#tab-login", "aria-selected") == "true"
    assert await page.evaluate("document.activeElement.id") == "login-email"

    # Logging in keeps the chosen slot too.
    await page.click(f'.slot[data-start="{PITCH_START}"]')
    assert await page.evaluate("document.activeElement.id") == "login-email"
    await page.fill("#login-email", ADA)
    await page.fill("#login-password", "sister-cities-demo")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#book-dialog[open]")
    assert "17:00–18:00" in await page.inner_text("#book-summary")
    assert page.problems == []


async def test_confirmations_stay_until_dismissed_and_never_cover_a_phone(client: Any, new_page: Any) -> None:
    page = await new_page(timezone_id="Europe/Paris", viewport=PHONE)
    await page.clock.install()
    await page.goto(str(client.make_url("/")))
    await log_in(page, ADA)
    await page.wait_for_selector("#mine:not([hidden])")
    await _show_week_of_15_march(page)
    await book_slot(page, PITCH_START, "Pitch")
    toast = page.locator("#toast.show")
    await toast.wait_for()
    assert "Booked: “Pitch”." in await toast.inner_text()
    # A minute later it is still there.
    await page.clock.run_for(60_000)
    assert await toast.is_visible()
    # It covers nothing: on a phone it sits in the page's flow, on a wide screen in the margin.
    for size, position in ((PHONE, "static"), (WIDE, "fixed")):
        await page.set_viewport_size(size)
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        covered = await page.evaluate("""() => {
            const toast = document.getElementById('toast');
            const box = toast.getBoundingClientRect();
            const hit = [];
            for (const el of document.querySelectorAll('body *')) {
                if (toast.contains(el) || el.contains(toast) || el.offsetParent === null) continue;
                if (el.children.length && !el.matches('button, input, select, a, svg')) continue;  // leaves
                const r = el.getBoundingClientRect();
                if (r.width && r.height && r.left < box.right && box.left < r.right && r.top < box.bottom && box.top < r.bottom) {
                    hit.push(el.id || el.className || el.tagName);
                }
            }
            return { position: getComputedStyle(toast).position, hit };
        }""")
        assert covered == {"position": position, "hit": []}, (size, covered)
    await page.set_viewport_size(PHONE)
    await screenshot(page, "booking-confirmation")
    # A new message replaces it; the dismiss button removes it.
    await page.locator(".session", has_text="Pitch").get_by_role("button", name="Cancel").click()
    await page.click("#cancel-confirm")
    await page.locator("#toast.show", has_text="Cancelled: “Pitch”.").wait_for()
    assert await page.locator("#toast .toast-text").count() == 1
    await page.get_by_role("button", name="Dismiss").click()
    await page.wait_for_selector("#toast.show", state="detached")
    assert page.problems == []


async def test_dates_and_times_in_the_interface_form_not_the_browser_locale(
    client: Any, new_page: Any
) -> None:
    # An American browser (AM/PM, month first) showing the French interface.
    page = await new_page(locale="en-US", timezone_id="America/Los_Angeles")
    await page.goto(str(client.make_url("/staff")))
    await page.click('#lang [lang="fr"]')
    await log_in(page, STAFF_PARIS)
    await page.wait_for_selector("#console:not([hidden])")
    # No field leaves its format to the browser's locale.
    for path in ("/staff", "/", "/kiosk"):
        if path != "/staff":
            other = await new_page(locale="en-US")
            await other.goto(str(client.make_url(path)))
            await other.wait_for_selector("body[data-ready], body[data-screen]", state="attached")
            fields = other.locator("input[type=date], input[type=time], input[type=datetime-local]")
        else:
            fields = page.locator("input[type=date], input[type=time], input[type=datetime-local]")
        assert await fields.count() == 0, path
    # The override date is 1 March 2027 in French order; opening hours are 24-hour.
    assert await page.input_value("#ov-date") == "01/03/2027"
    assert await page.get_attribute("#ov-date", "placeholder") == "JJ/MM/AAAA"
    monday = page.get_by_role("group", name="lundi")
    assert await monday.get_by_label("lundi: Ouverture").first.input_value() == "09:00"
    assert await monday.get_by_label("lundi: Fermeture").first.input_value() == "19:00"
    # A 12-hour time is not read as one; a 24-hour one is, however it is typed.
    await page.fill("#ov-time", "5 PM")
    await page.locator("#ov-time").blur()
    assert await page.get_attribute("#ov-time", "aria-invalid") == "true"
    await page.fill("#ov-time", "17h")
    await page.locator("#ov-time").blur()
    assert await page.input_value("#ov-time") == "17:00"
    assert await page.get_attribute("#ov-time", "aria-invalid") is None
    # Switching to English shows the same day in ISO order.
    await page.click('#lang [lang="en"]')
    assert await page.input_value("#ov-date") == "2027-03-01"
    assert page.problems == []


async def test_a_french_browser_showing_the_english_interface(client: Any, new_page: Any) -> None:
    """The other way round: a browser in French (day first) with the interface in English."""
    page = await new_page(locale="fr-FR", timezone_id="Europe/Paris")
    await page.goto(str(client.make_url("/staff")))
    await page.click('#lang [lang="en"]')
    await log_in(page, STAFF_PARIS)
    await page.wait_for_selector("#console:not([hidden])")
    assert await page.input_value("#ov-date") == "2027-03-01"
    assert await page.get_attribute("#ov-date", "placeholder") == "YYYY-MM-DD"
    monday = page.get_by_role("group", name="Monday")
    assert await monday.get_by_label("Monday: Opens").first.input_value() == "09:00"
    assert await monday.get_by_label("Monday: Closes").first.input_value() == "19:00"
    # A date typed in the browser's (French) order is not read as one in English.
    await page.fill("#ov-date", "16/03/2027")
    await page.locator("#ov-date").blur()
    assert await page.get_attribute("#ov-date", "aria-invalid") == "true"
    # The venue's clock and the day's heading: English words, 24-hour time.
    assert "Monday, March 1, 2027" in await page.inner_text("#console")
    assert (await page.inner_text("#venue-clock")).startswith("Local time 13:0")
    # The booking week: English day names, 24-hour slots.
    await page.goto(str(client.make_url("/")))
    await page.wait_for_selector("#week-grid .slot")
    assert await page.text_content("#week-grid [role=row] .weekday >> nth=0") == "Mon"
    clocks = await page.locator("#week-grid .slot-clock").all_inner_texts()
    assert clocks and all(re.fullmatch(r"[0-2]\d:[0-5]\d", c.strip()) for c in clocks), clocks[:6]
    assert page.problems == []

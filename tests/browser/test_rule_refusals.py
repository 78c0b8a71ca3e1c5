"""A booking rule refusal in the page, in English and French: it names the venue and the booth,
gives the venue's local times (24-hour, the language's date order) and what to do next, as an
alert next to the slot, and the week behind stops offering the slot; never a raw code, "null",
an id or a UTC instant.

The server clock is the ``clock`` fixture, Monday 1 March 2027 12:00 UTC (13:00 in Paris). The
rules change under the page, as they do for real: time passes while the dialog is open, staff
shorten the opening hours while a move is being chosen.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from booth_server.clock import Clock
from tests.browser.conftest import log_in, screenshot
from tests.conftest import ADA, STAFF_PARIS, booking, token_for

pytestmark = pytest.mark.browser

LOCALES = {"en": "en-US", "fr": "fr-FR"}
#: Anything that is not for people: a code, a missing value, an id, a UTC instant or a zone's id.
NOT_FOR_PEOPLE = re.compile(
    r"null|undefined|NaN|opening_hours|\bnotice\b|\bUTC\b|\d{4}-\d\d-\d\dT|\d\dZ\b|Europe/|America/|\bid\b|AM|PM"
)


async def refusal_note(page: Any) -> str:
    """The refusal, shown on the slot's summary in the dialog and read out at once."""
    note = page.locator("#book-summary .field-error")
    await note.wait_for()
    assert await note.get_attribute("role") == "alert"
    text: str = await note.inner_text()
    assert not NOT_FOR_PEOPLE.search(text), text
    return text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            r"Sessions at La Cantine must be booked at least 2 hours ahead; this slot starts at 17:00 Paris "
            r"time, in 5\d minutes\. Pick a slot starting 18:(15|30) Paris time or later\.",
        ),
        (
            "fr",
            r"Les sessions à La Cantine se réservent au moins 2 heures à l’avance ; ce créneau commence à "
            r"17:00, heure de Paris, dans 5\d minutes\. Choisissez un créneau à partir de 18:(15|30), heure de Paris\.",
        ),
    ],
)
async def test_too_late_for_the_notice(
    client: Any, clock: Clock, new_page: Any, language: str, expected: str
) -> None:
    page = await new_page(locale=LOCALES[language], timezone_id="America/New_York")
    await page.goto(str(client.make_url("/")))
    await log_in(page, ADA)
    await page.wait_for_selector("#mine:not([hidden])")
    # Today's first slot: 17:00 in Paris, 08:00 in San Francisco.
    first = '.slot[data-start="2027-03-01T16:00:00Z"]'
    await page.click(first)
    await page.wait_for_selector("#book-dialog[open]")
    if language == "en":
        await page.fill("#book-title-input", "Pitch")
    else:
        await page.fill("#book-title-input", "Présentation")
    # The dialog stays open for three hours: the slot is now less than two hours away.
    clock.advance(timedelta(hours=3))
    await page.click("#book-form [type=submit]")
    text = await refusal_note(page)
    assert re.fullmatch(expected, text), text
    # Behind the dialog the week no longer offers it.
    await page.wait_for_selector(first, state="detached")
    await screenshot(page, f"booking-refused-notice-{language}")
    assert page.problems == []


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "Cantine A at La Cantine is open 09:00–12:00 (Paris time) on Wednesday, March 17; your session would "
            "run 17:30–18:30 Paris time. Pick a slot within those hours from the week shown.",
        ),
        (
            "fr",
            "Cantine A (La Cantine) est ouverte 09:00–12:00 (heure de Paris) le mercredi 17 mars ; votre session "
            "irait de 17:30 à 18:30, heure de Paris. Choisissez un créneau dans ces horaires, dans la semaine affichée.",
        ),
    ],
)
async def test_a_move_outside_the_opening_hours(
    client: Any, new_page: Any, language: str, expected: str
) -> None:
    made = await client.post(
        "/api/v1/bookings",
        headers=await token_for(client, ADA),
        json=booking("2027-03-16T16:00:00Z", title="Board"),
    )
    assert made.status == 201, await made.text()
    page = await new_page(locale=LOCALES[language], timezone_id="America/New_York")
    await page.goto(str(client.make_url("/")))
    await log_in(page, ADA)
    card = page.locator(".session", has_text="Board")
    await card.wait_for()
    await card.locator("button", has_text={"en": "Reschedule", "fr": "Déplacer"}[language]).click()
    await page.wait_for_selector("#reschedule-banner:not([hidden])")
    # Wednesday 17 March, 17:30 in Paris.
    await page.click('.slot[data-start="2027-03-17T16:30:00Z"]')
    await page.wait_for_selector("#book-dialog[open]")
    # Meanwhile the Paris staff close on Wednesday afternoons.
    venues = (await (await client.get("/api/v1/venues")).json())["venues"]
    hours = next(v for v in venues if v["name"] == "La Cantine")["opening_hours"] | {
        "wed": [["09:00", "12:00"]]
    }
    changed = await client.patch(
        "/api/v1/venues/1", headers=await token_for(client, STAFF_PARIS), json={"opening_hours": hours}
    )
    assert changed.status == 200, await changed.text()
    await page.click("#book-form [type=submit]")
    assert await refusal_note(page) == expected
    await page.wait_for_selector('.slot[data-start="2027-03-17T16:30:00Z"]', state="detached")
    assert page.problems == []

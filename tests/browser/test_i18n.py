"""French and English: the first choice follows Accept-Language, the switch changes every text at
once (dates and the time-gap banner too) and is remembered across reloads."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import log_in
from tests.conftest import ADA

pytestmark = pytest.mark.browser


async def test_french_from_the_browser_then_english_remembered(client: Any, new_page: Any) -> None:
    page = await new_page(locale="fr-FR", timezone_id="Europe/Paris")
    await page.goto(str(client.make_url("/")))
    await page.wait_for_selector("body[data-ready]", state="attached")
    assert await page.get_attribute("html", "lang") == "fr"
    assert await page.inner_text("#book-heading") == "Réserver une session"
    assert await page.inner_text("#tab-login") == "Se connecter"
    assert await page.get_attribute('#lang [lang="fr"]', "aria-pressed") == "true"

    await log_in(page, ADA)
    await page.wait_for_selector("#mine:not([hidden])")
    await page.fill("#week-date", "2027-03-16")
    await page.locator("#gap-banner", has_text="8 heures").wait_for()
    banner = await page.inner_text("#gap-banner")
    assert "cette semaine, Paris et San Francisco ont 8 heures de décalage" in banner
    assert "San Francisco est déjà à l’heure d’été" in banner
    assert "mars" in await page.inner_text("#week-label")

    await page.click('#lang [lang="en"]')
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.inner_text("#book-heading") == "Book a session"
    assert "This week Paris and San Francisco are 8 hours apart" in await page.inner_text("#gap-banner")
    assert "March" in await page.inner_text("#week-label")
    assert await page.inner_text("#logout") == "Log out"
    # Focus stays on the switch for keyboard users (once the page has re-rendered: polled).
    focused = None
    for _ in range(50):
        focused = await page.evaluate("document.activeElement && document.activeElement.getAttribute('lang')")
        if focused == "en":
            break
        await page.wait_for_timeout(100)
    assert focused == "en"

    await page.reload()
    await page.wait_for_selector("body[data-ready]", state="attached")
    assert await page.inner_text("#book-heading") == "Book a session"

    # The staff console and the kiosk share the choice (same origin, same storage).
    await page.goto(str(client.make_url("/staff")))
    await page.wait_for_selector("#not-staff:not([hidden])")  # Ada books; she does not run a venue
    assert "for venue staff" in await page.inner_text("#not-staff")
    await page.click('#lang [lang="fr"]')
    assert "réservée aux équipes" in await page.inner_text("#not-staff")
    assert await page.title() == "Console équipe"
    await page.goto(str(client.make_url("/kiosk")))
    await page.wait_for_selector("#pair-screen:not([hidden])")
    assert await page.inner_text("#pair-heading") == "Appairer cette cabine"
    assert page.problems == []


async def test_the_server_negotiates_the_first_language(client: Any) -> None:
    for header, expected in (
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,en;q=0.5,fr;q=0.4", "en"),
        ("", "en"),
    ):
        response = await client.get("/", headers={"Accept-Language": header})
        assert f'<html lang="{expected}"' in await response.text(), header

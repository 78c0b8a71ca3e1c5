"""The staff console's booth-health panel in Chromium: each booth's last self-test, the alert
for a booth with a session within the hour, and the API agreeing with what the page shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from booth_server.keys import CLOCK
from booth_server.selftest import SELFTESTS
from scheduler.health import SelfTestRecord
from tests.browser.conftest import log_in, screenshot
from tests.conftest import ADA, CANTINE_A, CANTINE_B, STAFF_PARIS, booking, token_for

pytestmark = pytest.mark.browser


NBSP, NARROW = "\u00a0", "\u202f"
#: English words of the panel that a French console must not show.
ENGLISH = re.compile(r"\b(loss|black|never|good|fair|poor|relay|Test now)\b|\d\.\d")


async def seed(client: Any) -> None:
    """Cantine A: poor, with a session at 16:00Z within the hour (the clock at 15:20Z) and no
    kiosk connected; Cantine B: good. Figures with decimals and thousands to be written out."""
    response = await client.post(
        "/api/v1/bookings", headers=await token_for(client, ADA), json=booking("2027-03-16T16:00:00Z")
    )
    assert response.status == 201, await response.text()
    clock = client.app[CLOCK]
    clock.advance(datetime(2027, 3, 16, 15, 20, tzinfo=UTC) - clock.now())
    health = client.app[SELFTESTS].health
    at = datetime(2027, 3, 16, 15, 10, tzinfo=UTC)
    for booth, verdict, figures, paths, problems in (
        (CANTINE_A, "poor", {"path": "relay_udp", "rtt_ms": 712.0, "loss_percent": 14.5, "bitrate_down_kbps": 1250.0},
         {"relay_udp": True, "direct": False}, ["high_round_trip", "high_loss"]),
        (CANTINE_B, "good", {"path": "direct", "rtt_ms": 18.0, "loss_percent": 0.0, "bitrate_down_kbps": 420.0},
         {"direct": True}, []),
    ):  # fmt: skip
        await health.add_selftest(
            SelfTestRecord(
                test_id=f"st_panel{booth}xxxxx", booth_id=booth, trigger="opening", booking_id=None,
                started_at=at - timedelta(seconds=12), finished_at=at, verdict=verdict,
                score=2.2 if verdict == "poor" else 4.4, figures=figures, paths=paths, problems=problems,
            )
        )  # fmt: skip


async def open_panel(new_page: Any, client: Any, **viewer: Any) -> tuple[Any, Any]:
    """The staff console of STAFF_PARIS with the panel filled in, and the panel."""
    page = await new_page(**viewer)
    await page.goto(str(client.make_url("/staff")))
    await log_in(page, STAFF_PARIS)
    await page.wait_for_selector("#console:not([hidden])")
    panel = page.locator("#health")
    await panel.locator("#health-rows tr").first.wait_for()
    await panel.locator(".health-alert").wait_for()
    return page, panel


async def test_health_panel_shows_verdicts_and_the_alert(client: Any, new_page: Any) -> None:
    await seed(client)
    page, panel = await open_panel(new_page, client, timezone_id="America/Los_Angeles")
    alert = panel.locator(".health-alert")
    # Cantine A is offline (no kiosk connected) with a session at 17:00 Paris time.
    assert "Cantine A is offline, and has a session at" in await alert.inner_text()
    assert "17:00" in await alert.inner_text()
    assert await alert.count() == 1
    row_a = panel.locator("#health-rows tr", has_text="Cantine A")
    assert "poor (2.2)" in await row_a.inner_text()
    assert "712 ms · 14.5 % loss · 1,250 kbit/s" in await row_a.inner_text()
    assert "✗ direct" in await row_a.inner_text() and "✓ relay UDP" in await row_a.inner_text()
    row_b = panel.locator("#health-rows tr", has_text="Cantine B")
    assert "good (4.4)" in await row_b.inner_text()
    # "Test now" is for a connected, idle booth only.
    assert await row_a.get_by_role("button", name="Test now: Cantine A").is_disabled()
    api = await (
        await client.get("/api/v1/health/booths", headers=await token_for(client, STAFF_PARIS))
    ).json()
    shown = {b["booth_id"]: b for b in api["booths"]}
    assert shown[CANTINE_A]["alert"] == "offline" and shown[CANTINE_A]["last_selftest"]["verdict"] == "poor"
    assert shown[CANTINE_B]["alert"] is None
    await screenshot(page, "staff-booth-health")
    assert page.problems == []


async def test_health_panel_in_french(client: Any, new_page: Any) -> None:
    await seed(client)
    page, panel = await open_panel(new_page, client, locale="fr-FR", timezone_id="Europe/Paris")
    assert await page.get_attribute("html", "lang") == "fr"
    alert = await panel.locator(".health-alert").inner_text()
    assert "Cantine A est hors ligne, et a une session à" in alert and "17:00" in alert
    row_a = panel.locator("#health-rows tr", has_text="Cantine A")
    text_a = await row_a.inner_text()
    assert "mauvais (2,2)" in text_a
    # Decimal comma, the thousands and the % after a narrow no-break space, units after a no-break one.
    assert f"712{NBSP}ms · 14,5{NARROW}% de perte · 1{NARROW}250{NBSP}kbit/s" in text_a
    assert "✗ direct" in text_a and "✓ relais UDP" in text_a
    assert "bon (4,4)" in await panel.locator("#health-rows tr", has_text="Cantine B").inner_text()
    shown = await panel.inner_text()
    assert ENGLISH.search(shown) is None, ENGLISH.findall(shown)
    # The button's name: a no-break space before the colon, as French typography wants.
    assert await row_a.locator("button").get_attribute("aria-label") == f"Tester{NBSP}: Cantine A"
    await screenshot(page, "staff-booth-health-fr")
    assert page.problems == []

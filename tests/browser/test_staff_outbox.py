"""The staff console's mail outbox panel: sent and failed messages of the venue's sessions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import log_in, screenshot
from tests.conftest import ADA, STAFF_PARIS, booking, token_for
from tests.server.smtp_support import SmtpServer

pytestmark = pytest.mark.browser

GUEST = "refused@guests.example"


async def test_staff_see_sent_and_failed_messages(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer, new_page: Any
) -> None:
    smtp_server.refuse.add(GUEST)
    client = await make_client(
        sqlite_url,
        smtp_url=smtp_server.url,
        mail_from="booths@sebastian.example",
        mail_retry_seconds=0.05,
        mail_max_attempts=2,
    )
    ada = await token_for(client)
    answer = await client.post(
        "/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=[GUEST])
    )
    assert answer.status == 201
    await smtp_server.wait_for(lambda: smtp_server.refused_count == 2 and len(smtp_server.received) == 1)

    page = await new_page(timezone_id="Europe/Paris")
    await page.goto(str(client.make_url("/staff")))
    await log_in(page, STAFF_PARIS)
    await page.locator("#outbox-rows tr[data-status='failed']").wait_for()
    failed = page.locator("#outbox-rows tr[data-status='failed']")
    assert GUEST in await failed.inner_text()
    assert "SMTP 550" in await failed.inner_text()
    assert ADA in await page.locator("#outbox-rows tr[data-status='sent']").inner_text()
    await page.locator("#outbox").scroll_into_view_if_needed()
    await screenshot(page, "staff-outbox")

    await page.select_option("#outbox-status", "failed")
    await page.locator("#outbox-rows tr[data-status='sent']").wait_for(state="detached")
    assert await page.locator("#outbox-rows tr").count() == 1

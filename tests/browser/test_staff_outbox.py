"""The staff console's mail outbox panel: sent and failed messages of the venue's sessions, and
a change whose messages could not be composed."""

from __future__ import annotations

from typing import Any

import pytest

from booth_server.keys import MAIL_SENDER
from tests.browser.conftest import log_in, screenshot
from tests.conftest import ADA, STAFF_PARIS, booking, token_for
from tests.server.smtp_support import SmtpServer
from tests.server.test_mail import wait_until_async

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

    # A change whose messages cannot be composed is shown in their place, never dropped silently.
    composer = client.app[MAIL_SENDER].composer
    assert composer is not None

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a template that cannot render")

    composer.compose = broken
    again = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-17T16:00:00Z"))
    assert again.status == 201

    async def failed_changes() -> int:
        answer = await client.get(
            "/api/v1/venues/1/outbox?status=failed", headers=await token_for(client, STAFF_PARIS)
        )
        return len((await answer.json())["changes"])

    await wait_until_async(failed_changes, 1)
    # Show everything, then failed only again: each choice loads the list, one at a time.
    await page.select_option("#outbox-status", "")
    await page.locator("#outbox-rows tr[data-status='sent']").first.wait_for()
    await page.select_option("#outbox-status", "failed")
    await page.locator("#outbox-rows tr[data-status='sent']").first.wait_for(state="detached")
    change = page.locator("#outbox-rows tr.mail-change[data-status='failed']")
    await change.wait_for()
    text = await change.inner_text()
    assert "session booked (sequence 0)" in text and "could not be composed" in text
    assert "RuntimeError: a template that cannot render" in text
    assert await page.locator("#outbox-rows tr").count() == 2

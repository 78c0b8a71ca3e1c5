"""Reminders 24 hours and 1 hour before, and their one-click cancel link.

The server clock is moved forward (``Clock.advance``) to the reminders' times; the sender wakes
on every move of the clock, so the messages arrive at once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from booth_server.clock import Clock
from booth_server.keys import OUTBOX
from tests.conftest import ADA, ADMIN, booking, token_for
from tests.server.smtp_support import SmtpServer, parts, text_of

FROM = "booths@sebastian.example"
GUEST = "grace@guests.example"
START = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)  # 17:00 Paris, 09:00 San Francisco


def move_clock_to(clock: Clock, instant: datetime) -> None:
    clock.advance(instant - clock.now())


def cancel_link(text: str) -> str:
    found = re.search(r"(http://\S+/cancel\?token=\S+)", text)
    assert found, text
    return found.group(1)


async def book_with_reminders(
    make_client: Any, database_url: str, smtp: SmtpServer, **extra: Any
) -> tuple[Any, dict[str, str], int]:
    client = await make_client(database_url, smtp_url=smtp.url, mail_from=FROM, **extra)
    ada = await token_for(client)
    created = await client.post(
        "/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=[GUEST])
    )
    assert created.status == 201
    await smtp.wait_for(lambda: len(smtp.received) == 2)  # the invitations
    return client, ada, (await created.json())["id"]


async def test_reminders_a_day_and_an_hour_before_with_the_cancel_link_for_the_organizer_only(
    make_client: Any, database_url: str, smtp_server: SmtpServer, clock: Clock
) -> None:
    client, ada, booking_id = await book_with_reminders(make_client, database_url, smtp_server)
    move_clock_to(clock, datetime(2027, 3, 15, 15, 59, tzinfo=UTC))
    entries = await client.app[OUTBOX].entries(booking_id=booking_id, status="pending")
    day, hour = datetime(2027, 3, 15, 16, 0, tzinfo=UTC), datetime(2027, 3, 16, 15, 0, tzinfo=UTC)
    reminders = [e for e in entries if e.kind == "reminder"]
    assert sorted((e.kind, e.recipient, e.send_after, e.expires_at) for e in reminders) == sorted(
        ("reminder", recipient, at, START) for at in (day, hour) for recipient in (ADA, GUEST)
    )
    assert len(smtp_server.received) == 2  # nothing before its time

    move_clock_to(clock, datetime(2027, 3, 15, 16, 0, 1, tzinfo=UTC))
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 4)
    day_before = {r.rcpt_tos[0]: r.message for r in smtp_server.received[2:]}
    assert str(day_before[ADA]["Subject"]).startswith("Reminder: Pitch (16 March 2027, 17:00 Paris")
    organizer_text = text_of(day_before[ADA])
    assert "This booth session starts in 24 hours." in organizer_text
    assert "San Francisco: Tuesday 16 March 2027, 09:00–10:00 (UTC−07:00)" in organizer_text
    assert "/cancel?token=" in organizer_text and "/cancel?token=" in text_of(day_before[ADA], "html")
    assert "/cancel?token=" not in text_of(day_before[GUEST])  # a guest cannot cancel the session
    assert [t for t, _ in parts(day_before[ADA])] == ["text/plain", "text/html"]  # no second invitation

    move_clock_to(clock, datetime(2027, 3, 16, 15, 0, 1, tzinfo=UTC))
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 6)
    assert "starts in 1 hour." in text_of(smtp_server.to(ADA)[-1].message)


async def test_the_cancel_link_confirms_on_get_cancels_once_on_post(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer, clock: Clock
) -> None:
    client, ada, booking_id = await book_with_reminders(make_client, sqlite_url, smtp_server)
    move_clock_to(clock, datetime(2027, 3, 15, 16, 0, 1, tzinfo=UTC))
    await smtp_server.wait_for(lambda: len(smtp_server.to(ADA)) == 2)
    link = cancel_link(text_of(smtp_server.to(ADA)[-1].message))
    path = urlsplit(link).path + "?" + urlsplit(link).query
    token = parse_qs(urlsplit(link).query)["token"][0]

    async def status() -> str:
        answer = await client.get(f"/api/v1/bookings/{booking_id}", headers=ada)
        return str((await answer.json())["status"])

    page = await client.get(path)  # what a mail scanner does
    assert page.status == 200
    html = await page.text()
    assert 'data-outcome="confirm"' in html and 'method="post"' in html
    assert "09:00–10:00" in html and "17:00–18:00" in html
    assert await status() == "confirmed"

    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    refused = await client.post("/cancel", data={"token": forged})
    assert refused.status == 400 and 'data-outcome="invalid"' in await refused.text()
    assert (await client.post("/cancel", data={})).status == 400
    assert await status() == "confirmed"

    done = await client.post("/cancel?lang=fr", data={"token": token})
    assert done.status == 200
    text = await done.text()
    assert 'data-outcome="done"' in text and "La séance est annulée." in text
    assert await status() == "cancelled"
    await smtp_server.wait_for(lambda: len(smtp_server.to(GUEST)) == 3)
    assert str(smtp_server.to(GUEST)[-1].message["Subject"]).startswith("Cancelled: ")

    again = await client.post("/cancel", data={"token": token})
    assert again.status == 409 and 'data-outcome="used"' in await again.text()
    assert (await client.get(path)).status == 409
    # The hour-before reminders of the cancelled session are never sent.
    move_clock_to(clock, datetime(2027, 3, 16, 15, 0, 1, tzinfo=UTC))
    entries = await client.app[OUTBOX].entries(booking_id=booking_id)
    assert sorted(e.status for e in entries if e.kind == "reminder") == [
        "sent",
        "sent",
        "superseded",
        "superseded",
    ]


async def test_a_link_of_an_older_version_or_past_the_start_cancels_nothing(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer, clock: Clock
) -> None:
    client, ada, booking_id = await book_with_reminders(make_client, sqlite_url, smtp_server)
    move_clock_to(clock, datetime(2027, 3, 15, 16, 0, 1, tzinfo=UTC))
    await smtp_server.wait_for(lambda: len(smtp_server.to(ADA)) == 2)
    old_token = parse_qs(urlsplit(cancel_link(text_of(smtp_server.to(ADA)[-1].message))).query)["token"][0]

    changed = await client.patch(f"/api/v1/bookings/{booking_id}", headers=ada, json={"title": "Demo day"})
    assert changed.status == 200
    outdated = await client.post("/cancel", data={"token": old_token})
    assert outdated.status == 409 and 'data-outcome="changed"' in await outdated.text()

    # The reminders were rewritten for the new version; the hour-before one has a fresh link.
    move_clock_to(clock, datetime(2027, 3, 16, 15, 0, 1, tzinfo=UTC))
    await smtp_server.wait_for(lambda: len(smtp_server.to(ADA)) == 4)  # the update, the reminder
    fresh = parse_qs(urlsplit(cancel_link(text_of(smtp_server.to(ADA)[-1].message))).query)["token"][0]
    assert fresh != old_token

    move_clock_to(clock, START)
    expired = await client.post("/cancel", data={"token": fresh})
    assert expired.status == 410 and 'data-outcome="expired"' in await expired.text()
    answer = await client.get(f"/api/v1/bookings/{booking_id}", headers=ada)
    assert (await answer.json())["status"] == "confirmed"


async def test_an_account_that_turned_reminders_off_gets_none(
    make_client: Any, database_url: str, smtp_server: SmtpServer, clock: Clock
) -> None:
    client, ada, booking_id = await book_with_reminders(make_client, database_url, smtp_server)
    off = await client.patch("/api/v1/me/mail-settings", headers=ada, json={"reminders": False})
    assert (await off.json())["reminders"] is False
    move_clock_to(clock, datetime(2027, 3, 15, 16, 0, 1, tzinfo=UTC))
    await smtp_server.wait_for(lambda: len(smtp_server.to(GUEST)) == 2)

    async def skipped() -> list[str]:
        entries = await client.app[OUTBOX].entries(booking_id=booking_id, status="skipped")
        return [e.recipient for e in entries]

    # On PostgreSQL the skip commits with the claim of the next message, once that one is sent.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await skipped() != [ADA]:
        assert loop.time() < deadline, await skipped()
        await asyncio.sleep(0.02)
    assert len(smtp_server.to(ADA)) == 1  # the invitation only
    admin = await token_for(client, ADMIN)
    answer = await client.get("/api/v1/venues/1/outbox?status=skipped", headers=admin)
    assert [m["recipient"] for m in (await answer.json())["messages"]] == [ADA]


async def test_a_venue_rule_sets_the_reminders(make_client: Any, sqlite_url: str) -> None:
    client = await make_client(sqlite_url)
    admin = await token_for(client, ADMIN)
    body = {
        "name": "Station F",
        "city": "Paris",
        "timezone": "Europe/Paris",
        "country": "FR",
        "address": "5 parvis Alan Turing, 75013 Paris",
        "opening_hours": {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "rules": {"reminder_minutes": [60, 120, 60]},
    }
    venue = await client.post("/api/v1/venues", headers=admin, json=body)
    assert venue.status == 201, await venue.text()
    assert (await venue.json())["rules"]["reminder_minutes"] == [120, 60]
    for rule in ([0], [60] * 5, "60", [60.5]):
        bad = await client.post(
            "/api/v1/venues", headers=admin, json=body | {"name": "X", "rules": {"reminder_minutes": rule}}
        )
        assert bad.status == 422, rule
        assert (await bad.json())["error"]["field"] == "rules.reminder_minutes"

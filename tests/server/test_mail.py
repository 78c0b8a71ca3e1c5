"""Invitations, updates, cancellations and reminders, sent through a real SMTP server.

The server under test sends to an aiosmtpd server in the test process; what arrives is read
with the ``email`` package and its calendars with the parsers calendar clients use.
"""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import text

from booth_server.keys import DATABASE, OUTBOX, STORE
from scheduler.changes import BookingChanged
from tests.calendar_parsers import PARSERS, parse_with_vobject
from tests.conftest import ADA, ADMIN, CANTINE_A, SF_B, STAFF_PARIS, STAFF_SF, booking, token_for
from tests.server.smtp_support import (
    SmtpServer,
    attachment,
    calendar_part,
    parts,
    text_of,
    wait_until,
)

FROM = "Sebastian booths <booths@sebastian.example>"
GUEST = "grace@guests.example"


async def mail_client(make_client: Any, database_url: str, smtp: SmtpServer, **config: Any) -> Any:
    return await make_client(database_url, smtp_url=smtp.url, mail_from=FROM, **config)


def _structure(message: EmailMessage) -> list[str]:
    return [content_type for content_type, _ in parts(message)]


def _event(parsed: dict[str, Any]) -> dict[str, Any]:
    assert parsed["errors"] == [], parsed["errors"]
    assert len(parsed["events"]) == 1
    return dict(parsed["events"][0])


async def test_each_change_mails_the_right_message_to_the_right_people(
    make_client: Any, database_url: str, smtp_server: SmtpServer
) -> None:
    client = await mail_client(make_client, database_url, smtp_server)
    ada, admin = await token_for(client), await token_for(client, ADMIN)
    created = await client.post(
        "/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=[GUEST])
    )
    assert created.status == 201
    body = await created.json()
    path = f"/api/v1/bookings/{body['id']}"
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 2)

    steps: list[tuple[str, Any]] = [
        ("REQUEST", lambda: client.patch(path, headers=ada, json={"start": "2027-03-17T16:00:00Z"})),
        ("REQUEST", lambda: client.post(f"{path}/extend", headers=admin, json={"minutes": 30})),
        ("CANCEL", lambda: client.delete(path, headers=ada)),
    ]
    expected = [("REQUEST", "Invitation", 0, "2027-03-16T16:00:00Z", "2027-03-16T17:00:00Z")]
    for method, change in steps:
        answer = await change()
        assert answer.status == 200, await answer.text()
        after = await answer.json()
        word = {"REQUEST": "Updated", "CANCEL": "Cancelled"}[method]
        expected.append((method, word, after["sequence"], after["start"], after["end"]))
        count = 2 * len(expected)

        def arrived(count: int = count) -> bool:
            return len(smtp_server.received) == count

        await smtp_server.wait_for(arrived)

    for address in (ADA, GUEST):
        received = smtp_server.to(address)
        assert len(received) == len(expected)  # one message per change, no reminder due yet
        for got, (method, word, sequence, start, end) in zip(received, expected, strict=True):
            message = got.message
            assert got.rcpt_tos == [address]
            assert got.mail_from == "booths@sebastian.example"
            assert message["To"].addresses[0].addr_spec == address
            assert str(message["Subject"]).startswith(f"{word}: Pitch (")
            assert _structure(message) == ["text/plain", "text/html", "text/calendar", "application/ics"]
            assert message.get_content_type() == "multipart/mixed"
            part_method, inline = calendar_part(message)
            assert part_method == method  # Outlook refuses a MIME method other than METHOD
            assert inline == attachment(message)
            parsed = parse_with_vobject(inline)
            assert parsed["calendar"]["method"] == method
            event = _event(parsed)
            assert (event["uid"], event["sequence"]) == (body["uid"], sequence)
            assert (event["start_utc"], event["end_utc"]) == (start, end)
            assert event["status"] == ("CANCELLED" if method == "CANCEL" else "CONFIRMED")
    ids = [r.message_id for r in smtp_server.received]
    assert len(set(ids)) == len(ids)


async def test_calendar_part_and_attachment_read_alike_by_three_client_parsers(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer
) -> None:
    client = await mail_client(make_client, sqlite_url, smtp_server)
    ada, admin = await token_for(client), await token_for(client, ADMIN)
    # Tuesday 30 March 2027: Paris is on summer time since the 28th, 9 hours from San Francisco.
    created = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-30T15:00:00Z"))
    view = await created.json()
    path = f"/api/v1/bookings/{view['id']}"
    views = [view]
    for change in (
        lambda: client.patch(path, headers=ada, json={"start": "2027-03-16T16:00:00Z"}),  # 8-hour week
        lambda: client.post(f"{path}/extend", headers=admin, json={"minutes": 15}),
        lambda: client.delete(path, headers=ada),
    ):
        views.append(await (await change()).json())
    await smtp_server.wait_for(lambda: len(smtp_server.to(ADA)) == 4)
    for got, view in zip(smtp_server.to(ADA), views, strict=True):
        method, inline = calendar_part(got.message)
        for data in (inline, attachment(got.message)):
            for name, parse in PARSERS.items():
                parsed = parse(data)
                assert parsed["calendar"]["method"] == method, name
                event = _event(parsed)
                assert event["uid"] == view["uid"], name
                assert event["sequence"] == view["sequence"], name
                assert (event["start_utc"], event["end_utc"]) == (view["start"], view["end"]), name


async def test_bodies_in_french_and_english_with_both_cities_and_the_recipients_zone(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer
) -> None:
    client = await mail_client(make_client, sqlite_url, smtp_server)
    ada, admin = await token_for(client), await token_for(client, ADMIN)
    french = {"language": "fr", "timezone": "Asia/Tokyo"}
    answer = await client.patch("/api/v1/me/mail-settings", headers=ada, json=french)
    assert await answer.json() == french | {"reminders": True}
    english = {"timezone": "America/Los_Angeles"}
    assert (await client.patch("/api/v1/me/mail-settings", headers=admin, json=english)).status == 200
    guests = [ADMIN, GUEST]
    # 17:00 in Paris on Tuesday 16 March 2027 is 09:00 in San Francisco (8-hour week) ...
    await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=guests))
    # ... and 08:00 on 30 March, once Paris is on summer time too.
    await client.post(
        "/api/v1/bookings", headers=ada, json=booking("2027-03-30T15:00:00Z", booths=(CANTINE_A, SF_B))
    )
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 4)

    ada_eight, ada_nine = (text_of(r.message) for r in smtp_server.to(ADA))
    assert "Bonjour Ada Lovelace," in ada_eight
    assert "Votre séance en cabine est réservée." in ada_eight
    assert "Paris: mardi 16 mars 2027, 17:00–18:00 (UTC+01:00)" in ada_eight
    assert "San Francisco: mardi 16 mars 2027, 09:00–10:00 (UTC−07:00)" in ada_eight
    assert "Votre heure (Asia/Tokyo): mercredi 17 mars 2027, 01:00–02:00 (UTC+09:00)" in ada_eight
    assert "151 rue Montmartre, 75002 Paris" in ada_eight  # both venues' addresses
    assert "500 Terry A Francois Blvd" in ada_eight
    assert "San Francisco: mardi 30 mars 2027, 08:00–09:00 (UTC−07:00)" in ada_nine
    assert "Paris: mardi 30 mars 2027, 17:00–18:00 (UTC+02:00)" in ada_nine
    assert (
        smtp_server.to(ADA)[0].message["Subject"].startswith("Invitation : Pitch (16 mars 2027, 17:00 Paris")
    )

    admin_text = text_of(smtp_server.to(ADMIN)[0].message)
    assert "Ada Lovelace invites you to a booth session." in admin_text
    assert "San Francisco (your time): Tuesday 16 March 2027, 09:00–10:00 (UTC−07:00)" in admin_text
    assert "Your time" not in admin_text
    guest_message = smtp_server.to(GUEST)[0].message
    assert "Ada Lovelace vous invite à une séance en cabine." in text_of(guest_message)  # her language
    assert guest_message["Content-Language"] == "fr"
    html = text_of(guest_message, "html")
    assert "mardi 16 mars 2027, 17:00–18:00 (UTC+01:00)" in html and "<html lang='fr'>" in html


async def test_a_change_that_rolls_back_or_is_refused_sends_nothing(
    make_client: Any, database_url: str, smtp_server: SmtpServer
) -> None:
    client = await mail_client(make_client, database_url, smtp_server)
    ada = await token_for(client)
    first = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    first_id = (await first.json())["id"]
    conflict = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:30:00Z"))
    assert conflict.status == 409

    async def fail_after_the_outbox(_session: Any, _event: BookingChanged) -> None:
        raise RuntimeError("a later handler fails")

    client.app[STORE].on_change_in_transaction(fail_after_the_outbox)
    failed = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-18T16:00:00Z"))
    assert failed.status == 500
    # The first booking's messages are composed after its commit; the failed one has none.
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 1)
    entries = await client.app[OUTBOX].entries()
    assert {e.booking_id for e in entries} == {first_id}
    assert sorted(e.kind for e in entries) == ["invitation", "reminder", "reminder"]
    async with client.app[DATABASE].read() as session:
        intents = (await session.execute(text("SELECT booking_id, status FROM mail_intents"))).all()
    assert [tuple(row) for row in intents] == [(first_id, "composed")]  # none of the rolled-back change


async def test_a_refused_message_is_retried_then_failed_and_shown_to_the_venues_staff(
    make_client: Any, database_url: str, smtp_server: SmtpServer
) -> None:
    smtp_server.refuse.add(GUEST)
    client = await mail_client(
        make_client, database_url, smtp_server, mail_retry_seconds=0.05, mail_max_attempts=3
    )
    ada = await token_for(client)
    await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=[GUEST]))
    await smtp_server.wait_for(lambda: smtp_server.refused_count == 3 and len(smtp_server.received) == 1)

    async def failed(headers: dict[str, str], venue: int) -> Any:
        return await client.get(f"/api/v1/venues/{venue}/outbox?status=failed", headers=headers)

    paris = await token_for(client, STAFF_PARIS)
    await wait_until_async(lambda: _failed_count(client, paris), 1)
    answer = await (await failed(paris, 1)).json()
    [message] = answer["messages"]
    assert message["recipient"] == GUEST and message["kind"] == "invitation"
    assert message["attempts"] == 3
    assert message["last_error"].startswith("SMTP 550")
    assert len((await (await failed(await token_for(client, STAFF_SF), 2)).json())["messages"]) == 1
    assert (await failed(paris, 2)).status == 403  # another venue's outbox
    assert (await failed(ada, 1)).status == 403
    sent = await (await client.get("/api/v1/venues/1/outbox?status=sent", headers=paris)).json()
    assert [m["recipient"] for m in sent["messages"]] == [ADA]
    bad = await client.get("/api/v1/venues/1/outbox?status=lost", headers=paris)
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "status"


async def _failed_count(client: Any, headers: dict[str, str]) -> int:
    answer = await client.get("/api/v1/venues/1/outbox?status=failed", headers=headers)
    return len((await answer.json())["messages"])


async def wait_until_async(probe: Any, expected: Any, within: float = 10.0) -> None:
    seen: list[Any] = []

    async def check() -> bool:
        seen.append(await probe())
        return bool(seen[-1] == expected)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out: last value {seen[-1]!r}, expected {expected!r}")
        await asyncio.sleep(0.02)


async def test_without_smtp_messages_go_to_a_maildir_beside_the_database(
    make_client: Any, sqlite_url: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="booth_server.mail")
    client = await make_client(sqlite_url)
    maildir = tmp_path / "sebastian-test.maildir"
    assert str(maildir.resolve()) in caplog.text
    ada = await token_for(client)
    await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=[GUEST]))
    new = maildir / "new"
    await wait_until(lambda: new.is_dir() and len(list(new.iterdir())) == 2, what="two files in the maildir")
    contents = [path.read_bytes() for path in new.iterdir()]
    assert all(b"; method=REQUEST\r\n" in data and b"\r\nMETHOD:REQUEST\r\n" in data for data in contents)
    assert {re.search(rb"^To: .*?<?([\w.@-]+)>?\r$", d, re.M).group(1).decode() for d in contents} == {  # type: ignore[union-attr]
        ADA,
        GUEST,
    }


async def test_mail_settings_refuse_bad_values_by_name(make_client: Any, sqlite_url: str) -> None:
    client = await make_client(sqlite_url)
    ada = await token_for(client)
    assert await (await client.get("/api/v1/me/mail-settings", headers=ada)).json() == {
        "language": "en",
        "timezone": None,
        "reminders": True,
    }
    for body, field in (
        ({"language": "de"}, "language"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": 3}, "timezone"),
        ({"reminders": "no"}, "reminders"),
        ({"colour": "blue"}, "colour"),
    ):
        answer = await client.patch("/api/v1/me/mail-settings", headers=ada, json=body)
        assert answer.status == 422, body
        assert (await answer.json())["error"]["field"] == field
    assert (await client.get("/api/v1/me/mail-settings")).status == 401


async def test_mail_answers_fit_the_documented_schemas(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer
) -> None:
    from tests.server.test_openapi import _validator

    client = await mail_client(make_client, sqlite_url, smtp_server)
    ada, admin = await token_for(client), await token_for(client, ADMIN)
    _validator("MailSettings").validate(
        await (await client.get("/api/v1/me/mail-settings", headers=ada)).json()
    )
    await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 1)
    answer = await (await client.get("/api/v1/venues/1/outbox", headers=admin)).json()
    assert {m["status"] for m in answer["messages"]} == {"sent", "pending"}
    for message in answer["messages"]:
        _validator("OutboxMessage").validate(message)


async def test_an_existing_empty_directory_becomes_the_maildir(
    make_client: Any, sqlite_url: str, tmp_path: Any
) -> None:
    maildir = tmp_path / "mail"
    maildir.mkdir()
    client = await make_client(sqlite_url, maildir=str(maildir))
    ada = await token_for(client)
    await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    new = maildir / "new"
    await wait_until(lambda: new.is_dir() and len(list(new.iterdir())) == 1, what="a file in the maildir")


async def test_smtp_login_from_the_url_or_the_password_file(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer, tmp_path: Any
) -> None:
    smtp_server.users["booths@sebastian.example"] = "p@ss:word"
    password_file = tmp_path / "smtp.password"
    password_file.write_text("p@ss:word\n")
    url = f"smtp://booths%40sebastian.example@127.0.0.1:{smtp_server.port}"
    client = await make_client(
        sqlite_url,
        smtp_url=url,
        smtp_password_file=str(password_file),
        mail_from=FROM,
        mail_retry_seconds=0.05,
    )
    ada = await token_for(client)
    await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 1)
    assert smtp_server.logins == ["booths@sebastian.example"]


async def test_a_wrong_smtp_password_is_retried_then_failed(
    make_client: Any, sqlite_url: str, smtp_server: SmtpServer
) -> None:
    smtp_server.users["booths@sebastian.example"] = "right"
    url = f"smtp://booths%40sebastian.example:wrong@127.0.0.1:{smtp_server.port}"
    client = await make_client(
        sqlite_url, smtp_url=url, mail_from=FROM, mail_retry_seconds=0.05, mail_max_attempts=2
    )
    ada = await token_for(client)
    answer = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    booking_id = (await answer.json())["id"]

    async def failed() -> list[Any]:
        entries = await client.app[OUTBOX].entries(booking_id=booking_id, status="failed")
        return [e.last_error for e in entries]

    await wait_until_async(lambda: _count(failed), 1)
    [error] = await failed()
    assert error.startswith("SMTP 535") and "wrong" not in error
    assert smtp_server.received == []


async def _count(probe: Any) -> int:
    return len(await probe())

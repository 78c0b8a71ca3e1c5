"""A booking change writes one intent; the sender composes its messages after the commit.

What can go wrong between the two, and what must hold anyway:

* the sender is gone after the commit and before composing (stopped here; killed with SIGKILL
  while its composed messages wait on a lock in ``test_mail_delivery.py``): the next one
  composes the change, as the booking was then, with the Message-IDs it would have had;
* an update and the cancellation that follows it at once arrive in that order, with their
  own SEQUENCE and times;
* composing that raises is retried, then the change is marked ``failed`` and shown to staff;
  meanwhile a reminder of the version before is not sent;
* two PostgreSQL nodes never hold one intent at once, nor a later change of a booking while
  another node composes an earlier one.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from booth_server.clock import Clock
from booth_server.keys import DATABASE, MAIL_SENDER, OUTBOX, STORE
from scheduler.database import Database
from scheduler.mail import MailKind, Sender, message_id
from scheduler.outbox import Outbox
from tests.calendar_parsers import parse_with_vobject
from tests.conftest import ADA, ADMIN, STAFF_PARIS, booking, token_for
from tests.server.smtp_support import SmtpServer, calendar_part
from tests.server.test_openapi import _validator

FROM = "booths@sebastian.example"
GUEST = "grace@guests.example"


async def _intents(client: Any) -> list[tuple[int, int, str, int]]:
    """(booking, sequence, status, attempts) of every intent, in order."""
    async with client.app[DATABASE].read() as session:
        rows = await session.execute(
            text("SELECT booking_id, sequence, status, attempts FROM mail_intents ORDER BY id")
        )
        return [tuple(row) for row in rows]


def _calendar_event(message: Any) -> dict[str, Any]:
    method, data = calendar_part(message)
    parsed = parse_with_vobject(data)
    [event] = parsed["events"]
    return {"method": method, **event}


async def test_a_change_committed_before_its_messages_were_composed_is_mailed_by_the_next_start(
    make_client: Any, database_url: str, smtp_server: SmtpServer
) -> None:
    first = await make_client(database_url, smtp_url=smtp_server.url, mail_from=FROM)
    await first.app[MAIL_SENDER].stop()  # as if the process died right after the commits
    ada = await token_for(first)
    created = await first.post(
        "/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=[GUEST])
    )
    assert created.status == 201
    booking_id = (await created.json())["id"]
    moved = await first.patch(
        f"/api/v1/bookings/{booking_id}", headers=ada, json={"start": "2027-03-17T16:00:00Z"}
    )
    assert moved.status == 200
    assert await first.app[OUTBOX].entries(booking_id=booking_id) == []  # nothing composed yet
    assert await _intents(first) == [(booking_id, 0, "pending", 0), (booking_id, 1, "pending", 0)]

    second = await make_client(database_url, smtp_url=smtp_server.url, mail_from=FROM)
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 4)
    assert await _intents(second) == [(booking_id, 0, "composed", 1), (booking_id, 1, "composed", 1)]
    view = await second.app[STORE].booking(booking_id)
    for address in (ADA, GUEST):
        invitation, update = smtp_server.to(address)
        # Each message says the booking as its change left it, though both were composed after
        # the move: the invitation has the first time and SEQUENCE 0.
        first_event, second_event = _calendar_event(invitation.message), _calendar_event(update.message)
        assert (first_event["sequence"], first_event["start_utc"]) == (0, "2027-03-16T16:00:00Z")
        assert (second_event["sequence"], second_event["start_utc"]) == (1, "2027-03-17T16:00:00Z")
        assert first_event["method"] == second_event["method"] == "REQUEST"
        # The Message-IDs are those any composition of these changes gives: derived, not drawn.
        sender = Sender(FROM)
        assert invitation.message_id == message_id(
            sender, replace(view, sequence=0), MailKind.INVITATION, address
        )
        assert update.message_id == message_id(sender, view, MailKind.UPDATE, address)
    reminders = [e for e in await second.app[OUTBOX].entries(booking_id=booking_id) if e.kind == "reminder"]
    assert sorted((e.sequence, e.status) for e in reminders) == [(1, "pending")] * 4  # none of version 0


async def test_an_update_then_a_cancellation_at_once_arrive_in_order_with_their_sequences(
    make_client: Any, database_url: str, smtp_server: SmtpServer
) -> None:
    client = await make_client(database_url, smtp_url=smtp_server.url, mail_from=FROM)
    ada = await token_for(client)
    created = await client.post(
        "/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z", guests=[GUEST])
    )
    path = f"/api/v1/bookings/{(await created.json())['id']}"
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 2)
    moved = await client.patch(path, headers=ada, json={"start": "2027-03-18T16:00:00Z"})
    cancelled = await client.delete(path, headers=ada)  # at once: the update may not be composed
    assert (moved.status, cancelled.status) == (200, 200)
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 6)
    for address in (ADA, GUEST):
        events = [_calendar_event(r.message) for r in smtp_server.to(address)]
        assert [(e["method"], e["sequence"], e["start_utc"]) for e in events] == [
            ("REQUEST", 0, "2027-03-16T16:00:00Z"),
            ("REQUEST", 1, "2027-03-18T16:00:00Z"),
            ("CANCEL", 2, "2027-03-18T16:00:00Z"),
        ]
    entries = await client.app[OUTBOX].entries()
    assert [e.status for e in entries if e.kind == "reminder" and e.status == "pending"] == []


async def test_composing_that_fails_is_retried_then_shown_to_staff_and_never_sends_an_old_reminder(
    make_client: Any, database_url: str, smtp_server: SmtpServer, clock: Clock
) -> None:
    client = await make_client(
        database_url, smtp_url=smtp_server.url, mail_from=FROM, mail_retry_seconds=0.05, mail_max_attempts=3
    )
    ada, paris = await token_for(client), await token_for(client, STAFF_PARIS)
    created = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    booking_id = (await created.json())["id"]
    await smtp_server.wait_for(lambda: len(smtp_server.received) == 1)

    composer = client.app[MAIL_SENDER].composer
    assert composer is not None
    compose = composer.compose

    def broken(claimed: Any, *args: Any) -> Any:
        if claimed.intent.sequence == 1:
            raise RuntimeError("a template that cannot render")
        return compose(claimed, *args)

    composer.compose = broken
    edited = await client.patch(f"/api/v1/bookings/{booking_id}", headers=ada, json={"title": "Demo day"})
    assert edited.status == 200  # the change is committed whatever its mail does

    async def failed_changes() -> list[Any]:
        answer = await client.get("/api/v1/venues/1/outbox?status=failed", headers=paris)
        return list((await answer.json())["changes"])

    await _poll(failed_changes, lambda changes: len(changes) == 1, 10.0)
    [change] = await failed_changes()
    _validator("MailChange").validate(change)
    assert (change["booking_id"], change["sequence"], change["change"]) == (booking_id, 1, "edited")
    assert (
        change["attempts"] == 3
        and change["last_error"] == "composing failed: RuntimeError: a template that cannot render"
    )
    everything = await (await client.get("/api/v1/venues/1/outbox", headers=paris)).json()
    assert [c["id"] for c in everything["changes"]] == [change["id"]]
    assert (await (await client.get("/api/v1/venues/1/outbox?status=sent", headers=paris)).json())[
        "changes"
    ] == []

    # The day-before reminder of version 0 falls due: the booking is at version 1 now, so it is
    # superseded, not sent with a dead cancel link and the old title.
    clock.advance(datetime(2027, 3, 15, 16, 0, 1, tzinfo=UTC) - clock.now())

    async def reminder_statuses() -> list[str]:
        entries = await client.app[OUTBOX].entries(booking_id=booking_id)
        return sorted(e.status for e in entries if e.kind == "reminder")

    await _poll(reminder_statuses, lambda s: s == ["pending", "superseded"], 10.0)
    assert len(smtp_server.received) == 1


async def _poll(probe: Any, done: Any, within: float) -> None:
    """Await ``probe()`` until ``done(value)``, or fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not done(value := await probe()):
        if loop.time() > deadline:
            pytest.fail(f"timed out after {within} s; last seen {value!r}")
        await asyncio.sleep(0.02)


@pytest.mark.postgres
async def test_two_nodes_never_hold_one_intent_nor_a_later_change_of_its_booking(
    make_client: Any, postgres_url: str, clock: Clock
) -> None:
    client = await make_client(postgres_url)
    await client.app[MAIL_SENDER].stop()
    admin = await token_for(client, ADMIN)
    first = await client.post("/api/v1/bookings", headers=admin, json=booking("2027-03-16T16:00:00Z"))
    first_id = (await first.json())["id"]
    await client.patch(f"/api/v1/bookings/{first_id}", headers=admin, json={"title": "Demo day"})
    other = await client.post(
        "/api/v1/bookings", headers=admin, json=booking("2027-03-17T16:00:00Z", booths=(2, 4))
    )
    other_id = (await other.json())["id"]

    nodes = [Outbox(Database(postgres_url)) for _ in range(2)]
    now = clock.now() + timedelta(seconds=1)
    try:
        async with nodes[0].claim_intents(now, limit=1) as held:
            assert [(c.intent.booking_id, c.intent.sequence) for c in held] == [(first_id, 0)]
            assert not held[0].latest  # a later change exists: it writes the reminders
            async with nodes[1].claim_intents(now) as taken:
                # Not the intent node 0 holds, nor the booking's next change, which waits for it.
                assert [(c.intent.booking_id, c.intent.sequence) for c in taken] == [(other_id, 0)]
                assert taken[0].latest
        # Neither composed anything: every intent is still due, for any node.
        async with nodes[1].claim_intents(now) as again:
            assert [(c.intent.booking_id, c.intent.sequence) for c in again] == [(first_id, 0), (other_id, 0)]
    finally:
        for node in nodes:
            await node.db.dispose()


@pytest.mark.postgres
async def test_a_node_never_sends_a_later_message_while_another_holds_an_earlier_one_to_that_person(
    make_client: Any, postgres_url: str, clock: Clock
) -> None:
    client = await make_client(postgres_url)
    sender = client.app[MAIL_SENDER]
    await sender.stop()
    ada = await token_for(client)
    created = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    path = f"/api/v1/bookings/{(await created.json())['id']}"
    await client.patch(path, headers=ada, json={"start": "2027-03-18T16:00:00Z"})
    await client.delete(path, headers=ada)
    sender.stopping = False  # compose by hand, send nothing
    composed = 0
    while tried := await sender.compose_due():  # one change of the booking a pass: in order
        composed += tried
    assert composed == 3

    nodes = [Outbox(Database(postgres_url)) for _ in range(2)]
    now = clock.now() + timedelta(seconds=1)
    try:
        async with nodes[0].claim(now, limit=1) as held:
            assert [(m.recipient, m.sequence) for m in held] == [(ADA, 0)]
            async with nodes[1].claim(now) as taken:
                assert taken == []  # the update and the cancellation wait for the invitation
        async with nodes[1].claim(now) as again:
            assert [(m.recipient, m.sequence) for m in again] == [(ADA, 0)]  # one at a time, in order
    finally:
        for node in nodes:
            await node.db.dispose()

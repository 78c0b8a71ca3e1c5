"""The booking service layer: one event per committed change, none for a change that failed.

Driven through the HTTP API of the real app, on both engines: every handler goes through the
service, so these events are what the signalling rooms (and the mail outbox) see.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from booth_server.keys import BOOKINGS, STORE
from scheduler.changes import BookingChanged, ChangeKind
from scheduler.store import NewBooking
from tests.conftest import ADA, ADMIN, SF_B, booking, token_for


async def test_each_change_is_one_event_with_before_and_after(make_client, database_url) -> None:
    client = await make_client(database_url)
    seen: list[BookingChanged] = []

    async def record(event: BookingChanged) -> None:
        seen.append(event)

    client.app[BOOKINGS].subscribe(record)
    ada, admin = await token_for(client), await token_for(client, ADMIN)
    created = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    assert created.status == 201
    booking_id = (await created.json())["id"]
    path = f"/api/v1/bookings/{booking_id}"
    assert (await client.patch(path, headers=ada, json={"title": "Demo day"})).status == 200
    assert (await client.post(f"{path}/extend", headers=admin, json={"minutes": 15})).status == 200
    assert (await client.patch(path, headers=ada, json={"booths": [1, SF_B]})).status == 200
    assert (await client.delete(path, headers=ada)).status == 200
    assert (await client.delete(path, headers=ada)).status == 200  # twice: nothing changes

    kinds = [e.kind for e in seen]
    assert kinds == [
        ChangeKind.CREATED,
        ChangeKind.EDITED,
        ChangeKind.EXTENDED,
        ChangeKind.MOVED,
        ChangeKind.CANCELLED,
    ]
    assert [e.booking.sequence for e in seen] == [0, 1, 2, 3, 4]
    assert seen[0].before is None
    extended = seen[2]
    assert extended.before is not None
    assert extended.booking.end - extended.before.end == timedelta(minutes=15)
    moved = seen[3]
    assert moved.booth_ids == {1, 3, SF_B}  # the booth it left is told too


async def test_a_refused_or_rolled_back_change_emits_nothing(make_client, database_url) -> None:
    client = await make_client(database_url)
    seen: list[BookingChanged] = []

    async def record(event: BookingChanged) -> None:
        seen.append(event)

    client.app[BOOKINGS].subscribe(record)
    ada = await token_for(client)
    assert (
        await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    ).status == 201
    conflict = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:30:00Z"))
    assert conflict.status == 409
    assert len(seen) == 1

    # A handler inside the transaction writes, then fails: the booking and its write roll back.
    async def write_then_fail(session: Any, event: BookingChanged) -> None:
        await session.execute(
            text("UPDATE accounts SET name = 'rolled back' WHERE id = :id"),
            {"id": event.booking.organizer_id},
        )
        raise RuntimeError("the outbox is broken")

    client.app[STORE].on_change_in_transaction(write_then_fail)
    account, _ = await client.app[STORE].credentials(ADA) or pytest.fail("no demo account")
    with pytest.raises(RuntimeError):
        await client.app[BOOKINGS].create(_spec("2027-03-17T16:00:00Z"), account)
    listed = await client.get("/api/v1/bookings", headers=ada)
    assert [b["start"] for b in (await listed.json())["bookings"]] == ["2027-03-16T16:00:00Z"]
    assert (await client.app[STORE].account(account.id)).name != "rolled back"
    assert len(seen) == 1


def _spec(start: str) -> NewBooking:
    at = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return NewBooking(booth_ids=(1, 3), start=at, end=at + timedelta(hours=1), title="Pitch")

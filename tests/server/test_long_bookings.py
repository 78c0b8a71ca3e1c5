"""A booking longer than the session cap shows wherever a booking shows, on both engines.

The API cannot make or extend a session past a day (``scheduler.rules.LONGEST_SESSION``), but
longer rows can exist: made before the cap, edited in the database, or allowed by a later rule.
Free/busy and the feeds used to find a booking by its start within a day before the window, so
such a row vanished from every window starting more than a day after it began: free/busy showed
the booth free while it was booked, and the feeds dropped the event. These rows are inserted as
such a legacy row would be: straight into the tables, past every rule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from booth_server.keys import DATABASE
from scheduler.feeds import WINDOW_PAST, feed_day
from scheduler.tables import AccountRow, BookingRow, BoothHoldRow
from tests.calendar_parsers import parse_with_vobject
from tests.conftest import ADA, CANTINE_A, CANTINE_B, SF_A, SF_B, STAFF_PARIS, token_for

#: The day after the clock's Monday 1 March 2027, 12:00 UTC; 09:00 in Paris, 00:00 in San Francisco.
START = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)
#: Two days into the booking: a window from here starts well after the booking did.
INSIDE = date(2027, 3, 4)
FMT = "%Y-%m-%dT%H:%M:%SZ"
LENGTHS = [pytest.param(timedelta(days=3), id="3-days"), pytest.param(timedelta(days=40), id="40-days")]


async def insert_legacy_booking(client: TestClient[Any, Any], end: datetime) -> str:
    """Ada's booking of Cantine A and SF A from START to ``end``, as rows; returns its UID."""
    database = client.app[DATABASE]
    uid = f"legacy-{uuid.uuid4().hex}@sebastian"
    async with database.write() as session:
        ada_id = await session.scalar(select(AccountRow.id).where(AccountRow.email == ADA))
        assert ada_id is not None
        session.add(
            BookingRow(
                uid=uid,
                title="Board retreat",
                organizer_id=ada_id,
                status="confirmed",
                start_at=START,
                end_at=end,
                sequence=0,
                guests=[],
                created_at=START - timedelta(days=60),
                updated_at=START - timedelta(days=60),
                holds=[
                    BoothHoldRow(
                        booth_id=booth_id,
                        position=position,
                        start_at=START,
                        blocked_until=end + timedelta(minutes=10),
                        active=True,
                    )
                    for position, booth_id in enumerate((CANTINE_A, SF_A))
                ],
            )
        )
    return uid


async def freebusy(client: TestClient[Any, Any], booth_id: int, day: date) -> dict[str, Any]:
    response = await client.get(f"/feeds/booths/{booth_id}/freebusy.ics?from={day}&to={day}")
    assert response.status == 200, await response.text()
    (found,) = parse_with_vobject(await response.read())["freebusy"]
    return found


async def events_of(
    client: TestClient[Any, Any], path: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    parsed = parse_with_vobject(await response.read())
    assert parsed["errors"] == []
    return parsed["events"]


async def feed_path(client: TestClient[Any, Any], headers: dict[str, str], **body: Any) -> str:
    response = await client.post("/api/v1/feeds", headers=headers, json=body)
    assert response.status == 201, await response.text()
    return "/" + (await response.json())["https_url"].split("://", 1)[1].split("/", 1)[1]


@pytest.mark.parametrize("length", LENGTHS)
async def test_free_busy_shows_a_long_booking_busy_in_a_window_well_after_its_start(
    make_client, database_url, length
) -> None:
    client = await make_client(database_url)
    await insert_legacy_booking(client, START + length)
    found = {
        booth_id: await freebusy(client, booth_id, INSIDE) for booth_id in (CANTINE_A, SF_A, CANTINE_B, SF_B)
    }
    # The held booths are busy for the whole day asked for (periods are clipped to the window).
    assert {booth_id: f["periods"] for booth_id, f in found.items()} == {
        CANTINE_A: [[found[CANTINE_A]["start_utc"], found[CANTINE_A]["end_utc"]]],
        SF_A: [[found[SF_A]["start_utc"], found[SF_A]["end_utc"]]],
        CANTINE_B: [],
        SF_B: [],
    }


@pytest.mark.parametrize("length", LENGTHS)
async def test_availability_offers_no_slot_inside_a_long_booking(make_client, database_url, length) -> None:
    client = await make_client(database_url)
    await insert_legacy_booking(client, START + length)

    async def slots(booths: tuple[int, int]) -> list[dict[str, Any]]:
        query = f"booths={booths[0]},{booths[1]}&from={INSIDE}&to={INSIDE}&duration=60"
        response = await client.get(f"/api/v1/availability?{query}")
        assert response.status == 200, await response.text()
        return (await response.json())["slots"]

    assert await slots((CANTINE_A, SF_A)) == []
    assert await slots((CANTINE_B, SF_B)) != []  # the same day is bookable where it is free


@pytest.mark.parametrize("length", LENGTHS)
async def test_feeds_show_a_long_booking_whose_start_is_well_before_their_window(
    make_client, database_url, clock, length
) -> None:
    client = await make_client(database_url)
    end = START + length
    uid = await insert_legacy_booking(client, end)
    paths = {
        "organizer": await feed_path(client, await token_for(client), kind="organizer"),
        "venue": await feed_path(client, await token_for(client, STAFF_PARIS), kind="venue", venue_id=1),
        "booth Cantine A": f"/feeds/booths/{CANTINE_A}.ics",
        "booth SF A": f"/feeds/booths/{SF_A}.ics",
    }
    # A feed shows bookings ending after the start of its UTC day minus 30 days: move on until
    # that edge lies a day or more after the booking's start, and before its end.
    clock.advance(end + timedelta(days=29) - clock.now())
    window_start = feed_day(clock.now()) - WINDOW_PAST
    assert START + timedelta(days=1) < window_start < end
    shown = {
        name: [(e["uid"], e["start_utc"], e["end_utc"]) for e in await events_of(client, path)]
        for name, path in paths.items()
    }
    assert shown == {name: [(uid, START.strftime(FMT), end.strftime(FMT))] for name in paths}
    assert await events_of(client, f"/feeds/booths/{CANTINE_B}.ics") == []


@pytest.mark.parametrize("length", LENGTHS)
async def test_booking_lists_by_range_and_the_bookings_ics_show_a_long_booking(
    make_client, database_url, length
) -> None:
    client = await make_client(database_url)
    end = START + length
    uid = await insert_legacy_booking(client, end)
    ada = await token_for(client)
    noon = datetime.combine(INSIDE, time(12), UTC)
    query = f"from={noon.strftime(FMT)}&to={(noon + timedelta(hours=1)).strftime(FMT)}"
    response = await client.get(f"/api/v1/bookings?{query}", headers=ada)
    assert response.status == 200, await response.text()
    (listed,) = (await response.json())["bookings"]
    assert (listed["uid"], listed["start"], listed["end"]) == (uid, START.strftime(FMT), end.strftime(FMT))
    events = await events_of(client, f"/api/v1/bookings/{listed['id']}.ics", ada)
    assert [(e["uid"], e["start_utc"], e["end_utc"]) for e in events] == [
        (uid, START.strftime(FMT), end.strftime(FMT))
    ]

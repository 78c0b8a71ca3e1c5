"""Input a hostile client sends: every refusal is a 4xx naming the field, never a 500.

Lone surrogates (escaped in JSON, or raw in a header), NUL and other controls, deep nesting,
integers of thousands of digits, instants in the years 1 and 9999 or with offsets beyond any
zone's, opening hours that mix offsets. And rows written before these checks existed must not
break the reads that show them.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from booth_server.keys import DATABASE
from tests.conftest import ADMIN, CANTINE_A, STAFF_PARIS, booking, token_for

PARIS = 1
BOOKING = '{"booths": [1, 3], "start": "2027-03-16T16:00:00Z", "duration_minutes": 60, "title": "Pitch"'


async def _send(client: Any, method: str, path: str, raw: str | bytes, headers: dict[str, str]) -> Any:
    return await client.request(
        method, path, data=raw, headers={**headers, "Content-Type": "application/json"}
    )


async def _refused(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    error = (await response.json())["error"]
    assert error["field"] == field, error
    return error


@pytest.mark.parametrize(
    ("method", "path", "raw", "field"),
    [
        ("POST", "/api/v1/bookings", BOOKING.replace('"Pitch"', '"\\ud800"') + "}", "title"),
        ("POST", "/api/v1/bookings", BOOKING.replace('"Pitch"', '"Pi\\udfffch"') + "}", "title"),
        ("POST", "/api/v1/bookings", BOOKING + ', "guests": ["bob\\ud800@example.org"]}', "guests"),
        ("POST", "/api/v1/bookings", BOOKING + ', "idempotency_key": "k\\ud800"}', "idempotency_key"),
        ("POST", "/api/v1/bookings", BOOKING.replace('"Pitch"', '"a\\u0000b"') + "}", "title"),
        ("POST", "/api/v1/bookings", BOOKING.replace('"Pitch"', '"a\\u001bb"') + "}", "title"),
        (
            "POST",
            "/api/v1/accounts",
            '{"email": "x@example.org", "password": "long enough pw", "name": "\\ud83d"}',
            "name",
        ),
        (
            "POST",
            "/api/v1/accounts",
            '{"email": "x\\ud800@example.org", "password": "long enough pw", "name": "X"}',
            "email",
        ),
        (
            "POST",
            "/api/v1/tokens",
            '{"email": "ada@demo.sebastian.example", "password": "\\udc00"}',
            "password",
        ),
        (
            "POST",
            "/api/v1/venues/1/blackouts",
            '{"start": "2027-04-01T00:00:00Z", "end": "2027-04-02T00:00:00Z", "reason": "\\ud800"}',
            "reason",
        ),
    ],
)
async def test_lone_surrogates_and_controls_are_refused_by_field(client, method, path, raw, field) -> None:
    headers = await token_for(client, ADMIN)
    error = await _refused(await _send(client, method, path, raw, headers), 422, field)
    assert error["code"] == "invalid"
    assert "surrogate" in error["message"] or "control character" in error["message"]


async def test_a_lone_surrogate_in_a_header_is_refused_by_name(client) -> None:
    # aiohttp reads header bytes that are not UTF-8 as surrogate escapes.
    headers = {
        **await token_for(client),
        "Idempotency-Key": "k\udced\udca0\udc80".encode("utf-8", "surrogateescape").decode("latin-1"),
    }
    response = await client.post("/api/v1/bookings", json=booking("2027-03-16T16:00:00Z"), headers=headers)
    await _refused(response, 422, "Idempotency-Key")


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        ("[" * 5000 + "]" * 5000, 400, "body"),
        ('{"a": ' + "[" * 900 + "]" * 900 + "}", 400, "a"),
        (BOOKING + ', "guests": ' + "[" * 20 + "]" * 20 + "}", 400, "guests"),
        (BOOKING.replace("60", "9" * 5000) + "}", 400, "body"),
        (BOOKING.replace("60", "18446744073709551616") + "}", 422, "duration_minutes"),
        (BOOKING.replace("60", "1e999") + "}", 400, "body"),
        (BOOKING.replace("60", "NaN") + "}", 400, "body"),
    ],
    ids=["array-5000", "object-900", "guests-20", "int-5000-digits", "int-65-bits", "float-overflow", "nan"],
)
async def test_deep_nesting_and_huge_numbers_are_4xx(client, raw, status, field) -> None:
    response = await _send(client, "POST", "/api/v1/bookings", raw, await token_for(client))
    await _refused(response, status, field)


@pytest.mark.parametrize(
    "start",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:00:00-14:00",
        "2027-03-16T16:00:00+23:59",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    ],
)
async def test_instants_outside_the_documented_range_are_named(client, start) -> None:
    headers = await token_for(client, ADMIN)
    await _refused(await client.post("/api/v1/bookings", json=booking(start), headers=headers), 422, "start")
    if not start.startswith("2027"):  # the same wall time in the zone furthest ahead (+14:00)
        local = booking(start[:19], timezone="Pacific/Kiritimati")
        error = await _refused(
            await client.post("/api/v1/bookings", json=local, headers=headers), 422, "start"
        )
        assert "2000-01-01" in error["message"], error
    await _refused(await client.get("/api/v1/bookings", params={"to": start}, headers=headers), 422, "to")
    blackout = {"start": start, "end": "2027-04-01T00:00:00Z", "reason": "works"}
    await _refused(
        await client.post(f"/api/v1/venues/{PARIS}/blackouts", json=blackout, headers=headers), 422, "start"
    )


@pytest.mark.parametrize("day", ["0001-01-01", "1999-12-31", "9999-12-31", "2100-01-01"])
async def test_days_outside_the_documented_range_are_named(client, day) -> None:
    headers = await token_for(client, ADMIN)
    for path, params in [
        ("/api/v1/availability", {"booths": "1,3", "from": day, "to": day}),
        (f"/api/v1/venues/{PARIS}/utilization", {"from": day}),
        (f"/feeds/booths/{CANTINE_A}/freebusy.ics", {"from": day}),
    ]:
        await _refused(await client.get(path, params=params, headers=headers), 422, "from")


async def test_opening_hours_with_an_offset_are_refused_not_compared(client) -> None:
    staff = await token_for(client, STAFF_PARIS)
    hours = {"mon": [["09:00+01:00", "18:00"], ["08:00", "08:30"]]}
    error = await _refused(
        await client.patch(f"/api/v1/venues/{PARIS}", json={"opening_hours": hours}, headers=staff),
        422,
        "opening_hours",
    )
    assert "HH:MM" in error["message"]


async def test_nul_in_text_is_refused_on_both_engines(make_client, database_url) -> None:
    client = await make_client(database_url)
    headers = await token_for(client)
    body = booking("2027-03-16T16:00:00Z", title="a\x00b")
    await _refused(await client.post("/api/v1/bookings", json=body, headers=headers), 422, "title")
    body = booking("2027-03-16T16:00:00Z", guests=["bob@exam\x00ple.org"])
    await _refused(await client.post("/api/v1/bookings", json=body, headers=headers), 422, "guests")


async def test_rows_written_before_the_checks_do_not_break_reads(make_client, database_url) -> None:
    """A guest with a lone surrogate and a blackout in the year 1, as older versions stored them."""
    client = await make_client(database_url)
    ada, staff = await token_for(client), await token_for(client, STAFF_PARIS)
    made = await client.post("/api/v1/bookings", json=booking("2027-03-16T16:00:00Z"), headers=ada)
    booking_id = (await made.json())["id"]
    feed = await (
        await client.post("/api/v1/feeds", json={"kind": "venue", "venue_id": PARIS}, headers=staff)
    ).json()
    async with client.app[DATABASE].write() as session:
        await session.execute(
            text("UPDATE bookings SET guests = :guests WHERE id = :id"),
            {"guests": '["bob\\ud800@example.org"]', "id": booking_id},
        )
        # The year 1 as each engine stores an instant: SQLite naive UTC text, PostgreSQL timestamptz.
        sqlite = client.app[DATABASE].is_sqlite
        start, end = (
            ("0001-01-01 00:00:00.000000", "0001-01-02 00:00:00.000000")
            if sqlite
            else (
                "0001-01-01 00:00:00+00",
                "0001-01-02 00:00:00+00",
            )
        )
        await session.execute(
            text(
                "INSERT INTO blackouts (venue_id, start_at, end_at, reason) "
                f"VALUES ({PARIS}, '{start}', '{end}', 'old')"
            )
        )
    ics = await client.get(f"/api/v1/bookings/{booking_id}.ics?method=request", headers=ada)
    assert ics.status == 200, await ics.text()
    assert "mailto:bob\ufffd@example.org" in (await ics.read()).decode("utf-8").replace("\r\n ", "")
    venue_feed = await client.get("/" + feed["https_url"].split("://", 1)[1].split("/", 1)[1])
    assert venue_feed.status == 200, await venue_feed.text()
    listed = await client.get(f"/api/v1/venues/{PARIS}/blackouts")
    assert listed.status == 200, await listed.text()
    old = [b for b in (await listed.json())["blackouts"] if b["reason"] == "old"]
    assert [b["start"] for b in old] == ["0001-01-01T00:00:00Z"]
    # Staff can repair the booking: the bad guest is replaced by a good list.
    fixed = await client.patch(
        f"/api/v1/bookings/{booking_id}", json={"guests": ["bob@example.org"]}, headers=ada
    )
    assert fixed.status == 200, await fixed.text()
    assert (await fixed.json())["guests"] == ["bob@example.org"]

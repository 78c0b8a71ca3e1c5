"""A booking rule refusal says which booth and venue, and when in the venue's local time, with
the rule's limits: the fields docs/api.md documents, from which clients (the pages' messages,
tests/static/errors.test.mjs) write their own sentences. On a create, a move and a longer session.

The clock is Monday 1 March 2027, 12:00 UTC (13:00 in Paris, 04:00 in San Francisco).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from booth_server.app import openapi_document
from booth_server.clock import Clock
from tests.conftest import ADA, ADMIN, STAFF_PARIS, booking, token_for

ROOT = Path(__file__).resolve().parents[2]
PARIS_VENUE = 1
#: What every rule refusal carries, besides code, message and field.
WHERE = {"venue", "booth", "city", "timezone", "start", "end"}
CANTINE_A_AT = {"venue": "La Cantine", "booth": "Cantine A", "city": "Paris", "timezone": "Europe/Paris"}
SF_A_AT = {
    "venue": "Mission Bay Commons",
    "booth": "SF A",
    "city": "San Francisco",
    "timezone": "America/Los_Angeles",
}


def documented_fields() -> dict[str, set[str]]:
    """The rule refusals' own fields, from the "more fields" table of docs/api.md."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    table = text[text.index("| code | more fields |") :].split("\n\n", 1)[0]
    fields: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.split("|")]
        code = cells[1].strip("`")
        fields[code] = set(re.findall(r"`([a-z_]+)`", cells[2]))
    return fields


async def refused(response: Any, code: str) -> dict[str, Any]:
    assert response.status == 422, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    assert error["code"] == code, error
    extra = set(error) - {"code", "message", "field"}
    assert WHERE <= extra, error
    assert extra - WHERE <= documented_fields()[code], (
        f"undocumented: {extra - WHERE - documented_fields()[code]}"
    )
    schema = openapi_document()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert extra <= set(schema), f"not in the OpenAPI Error schema: {extra - set(schema)}"
    return error


def only(error: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: error[name] for name in names}


async def test_opening_hours_on_a_move_and_on_a_longer_session(client: Any) -> None:
    ada = await token_for(client, ADA)
    made = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:30:00Z"))
    assert made.status == 201, await made.text()
    url = f"/api/v1/bookings/{(await made.json())['id']}"

    error = await refused(
        await client.patch(url, headers=ada, json={"start": "2027-03-16T06:00:00Z"}), "opening_hours"
    )
    assert only(error, *WHERE, "date", "opening_hours") == CANTINE_A_AT | {
        "start": "2027-03-16T07:00:00+01:00",
        "end": "2027-03-16T08:00:00+01:00",
        "date": "2027-03-16",
        "opening_hours": [["09:00", "19:00"]],
    }
    # 17:30 Paris for two hours runs past 19:00.
    error = await refused(
        await client.patch(url, headers=ada, json={"duration_minutes": 120}), "opening_hours"
    )
    assert (error["start"], error["end"]) == ("2027-03-16T17:30:00+01:00", "2027-03-16T19:30:00+01:00")


@pytest.mark.parametrize(
    ("start", "where", "details"),
    [
        (  # Easter Monday in France
            "2027-03-29T16:00:00Z",
            CANTINE_A_AT,
            {"closure": "holiday", "date": "2027-03-29", "start": "2027-03-29T18:00:00+02:00"},
        ),
        (  # Cesar Chavez Day in California
            "2027-03-31T16:00:00Z",
            SF_A_AT,
            {"closure": "holiday", "date": "2027-03-31", "start": "2027-03-31T09:00:00-07:00"},
        ),
    ],
)
async def test_closure_for_a_public_holiday(
    client: Any, start: str, where: dict[str, str], details: Any
) -> None:
    error = await refused(
        await client.post("/api/v1/bookings", headers=await token_for(client), json=booking(start)), "closure"
    )
    assert only(error, *where, *details) == where | details
    assert error["holiday"] and error["holiday"] in error["message"]
    assert "reason" not in error and "closed_from" not in error


async def test_closure_added_by_staff(client: Any) -> None:
    staff = await token_for(client, STAFF_PARIS)
    added = await client.post(
        f"/api/v1/venues/{PARIS_VENUE}/blackouts",
        headers=staff,
        json={"start": "2027-03-16T14:00:00", "end": "2027-03-16T19:00:00", "reason": "Staff training"},
    )
    assert added.status == 201, await added.text()
    response = await client.post(
        "/api/v1/bookings", headers=await token_for(client), json=booking("2027-03-16T16:00:00Z")
    )
    error = await refused(response, "closure")
    assert only(error, *WHERE, "closure", "reason", "closed_from", "closed_until") == CANTINE_A_AT | {
        "start": "2027-03-16T17:00:00+01:00",
        "end": "2027-03-16T18:00:00+01:00",
        "closure": "blackout",
        "reason": "Staff training",
        "closed_from": "2027-03-16T14:00:00+01:00",
        "closed_until": "2027-03-16T19:00:00+01:00",
    }


async def test_notice_gives_the_wait_and_the_first_start_it_allows(client: Any, clock: Clock) -> None:
    headers = await token_for(client)
    before = clock.now()
    response = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-01T13:00:00Z"))
    after = clock.now()
    error = await refused(response, "notice")
    assert only(error, *WHERE, "min_notice_minutes") == CANTINE_A_AT | {
        "start": "2027-03-01T14:00:00+01:00",
        "end": "2027-03-01T15:00:00+01:00",
        "min_notice_minutes": 120,
    }
    start = datetime(2027, 3, 1, 13, 0, tzinfo=UTC)
    assert (
        (start - after) // timedelta(minutes=1)
        <= error["minutes_until_start"]
        <= (start - before) // timedelta(minutes=1)
    )
    # The first quarter hour at or after now + 2 hours, in Paris time.
    earliest = datetime.fromisoformat(error["earliest_start"])
    assert earliest.utcoffset() == timedelta(hours=1) and earliest.minute % 15 == 0 and earliest.second == 0
    assert before + timedelta(hours=2) <= earliest < after + timedelta(hours=2, minutes=15)


async def test_advance_gives_the_last_start_it_allows(client: Any) -> None:
    response = await client.post(
        "/api/v1/bookings", headers=await token_for(client), json=booking("2027-06-15T16:00:00Z")
    )
    error = await refused(response, "advance")
    # 90 days after 1 March 12:00 UTC is 30 May 14:00 in Paris (summer time), on the grid.
    assert only(error, *WHERE, "max_advance_days", "latest_start") == CANTINE_A_AT | {
        "start": "2027-06-15T18:00:00+02:00",
        "end": "2027-06-15T19:00:00+02:00",
        "max_advance_days": 90,
        "latest_start": "2027-05-30T14:00:00+02:00",
    }


async def test_grid_and_length(client: Any) -> None:
    headers = await token_for(client)
    error = await refused(
        await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:05:00Z")), "grid"
    )
    assert (error["start"], error["grid_minutes"]) == ("2027-03-16T17:05:00+01:00", 15)
    error = await refused(
        await client.post(
            "/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z", minutes=150)
        ),
        "duration",
    )
    assert only(
        error, "end", "duration_minutes", "min_duration_minutes", "max_duration_minutes", "grid_minutes"
    ) == {
        "end": "2027-03-16T19:30:00+01:00",
        "duration_minutes": 150,
        "min_duration_minutes": 15,
        "max_duration_minutes": 120,
        "grid_minutes": 15,
    }


async def test_quota_gives_the_week_and_what_is_used(client: Any) -> None:
    headers = await token_for(client)
    for start in ("2027-03-16T16:00:00Z", "2027-03-17T16:00:00Z"):
        made = await client.post("/api/v1/bookings", headers=headers, json=booking(start, minutes=90))
        assert made.status == 201, await made.text()
    response = await client.post(
        "/api/v1/bookings", headers=headers, json=booking("2027-03-18T16:00:00Z", minutes=75)
    )
    error = await refused(response, "quota")
    assert only(error, *WHERE, "weekly_quota_minutes", "used_minutes", "duration_minutes", "week_start") == (
        CANTINE_A_AT
        | {
            "start": "2027-03-18T17:00:00+01:00",
            "end": "2027-03-18T18:15:00+01:00",
            "weekly_quota_minutes": 240,
            "used_minutes": 180,
            "duration_minutes": 75,
            "week_start": "2027-03-15",
        }
    )


async def test_session_too_long_past_an_override(client: Any) -> None:
    # An override lets a session past the other rules, never past the longest session.
    too_long = booking("2027-03-16T09:00:00Z", minutes=375, override_reason="all day")
    response = await client.post("/api/v1/bookings", headers=await token_for(client, ADMIN), json=too_long)
    error = await refused(response, "session_too_long")
    assert only(error, *WHERE, "max_session_minutes", "duration_minutes") == CANTINE_A_AT | {
        "start": "2027-03-16T10:00:00+01:00",
        "end": "2027-03-16T16:15:00+01:00",
        "max_session_minutes": 360,
        "duration_minutes": 375,
    }


def test_every_rule_has_its_row() -> None:
    assert set(documented_fields()) == {
        "grid",
        "duration",
        "notice",
        "advance",
        "opening_hours",
        "closure",
        "quota",
        "session_too_long",
    }

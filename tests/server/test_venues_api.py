"""Venue administration: opening hours, blackouts, utilization; who may do it."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema.validators import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from booth_server.app import openapi_document
from tests.conftest import ADA, ADMIN, CANTINE_A, CANTINE_B, SF_A, SF_B, STAFF_PARIS, STAFF_SF, token_for

PARIS, SF = 1, 2


async def test_staff_edit_opening_hours_and_availability_follows(client: Any) -> None:
    staff = await token_for(client, STAFF_PARIS)
    before = await (
        await client.get(f"/api/v1/availability?booths={CANTINE_A},{SF_A}&from=2027-03-16&to=2027-03-16")
    ).json()
    assert before["slots"]
    hours = {day: [["09:00", "12:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    response = await client.patch(f"/api/v1/venues/{PARIS}", headers=staff, json={"opening_hours": hours})
    assert response.status == 200, await response.text()
    venue = await response.json()
    assert venue["opening_hours"]["tue"] == [["09:00", "12:00"]]
    assert venue["opening_hours"]["sat"] == []
    # Paris closes at noon, when San Francisco is still asleep: no common slot any more.
    after = await (
        await client.get(f"/api/v1/availability?booths={CANTINE_A},{SF_A}&from=2027-03-16&to=2027-03-16")
    ).json()
    assert after["slots"] == []


async def test_bad_opening_hours_name_the_field_and_day(client: Any) -> None:
    staff = await token_for(client, STAFF_PARIS)
    response = await client.patch(
        f"/api/v1/venues/{PARIS}", headers=staff, json={"opening_hours": {"mon": [["19:00", "09:00"]]}}
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"] == "opening_hours" and "mon" in error["message"]
    response = await client.patch(f"/api/v1/venues/{PARIS}", headers=staff, json={"timezone": "UTC"})
    assert response.status == 422 and (await response.json())["error"]["field"] == "timezone"


async def test_only_staff_of_the_venue_or_admin(client: Any) -> None:
    hours = {"mon": [["09:00", "18:00"]]}
    for email, status in ((ADA, 403), (STAFF_SF, 403), (ADMIN, 200)):
        response = await client.patch(
            f"/api/v1/venues/{PARIS}", headers=await token_for(client, email), json={"opening_hours": hours}
        )
        assert response.status == status, email
    assert (await client.patch(f"/api/v1/venues/{PARIS}", json={"opening_hours": hours})).status == 401
    response = await client.patch("/api/v1/venues/99", headers=await token_for(client, ADMIN), json={})
    assert response.status == 404


async def test_blackout_closes_slots_lists_affected_bookings_and_can_be_removed(client: Any) -> None:
    ada = await token_for(client, ADA)
    booked = await client.post(
        "/api/v1/bookings",
        headers=ada,
        json={
            "booths": [CANTINE_A, SF_A],
            "start": "2027-03-16T17:00:00",
            "timezone": "Europe/Paris",
            "duration_minutes": 60,
            "title": "Pitch",
        },
    )
    assert booked.status == 201
    booking_id = (await booked.json())["id"]
    staff = await token_for(client, STAFF_PARIS)
    # Local wall time in the venue's zone when no offset and no timezone are given.
    response = await client.post(
        f"/api/v1/venues/{PARIS}/blackouts",
        headers=staff,
        json={"start": "2027-03-16T14:00:00", "end": "2027-03-16T19:00:00", "reason": "Staff training"},
    )
    assert response.status == 201, await response.text()
    blackout = await response.json()
    assert blackout["start"] == "2027-03-16T13:00:00Z"
    assert blackout["local"]["start"] == "2027-03-16T14:00:00+01:00"
    assert blackout["affected_bookings"] == [booking_id]
    slots = (
        await (
            await client.get(f"/api/v1/availability?booths={CANTINE_B},{SF_B}&from=2027-03-16&to=2027-03-16")
        ).json()
    )["slots"]
    assert slots == []
    listed = (await (await client.get(f"/api/v1/venues/{PARIS}/blackouts")).json())["blackouts"]
    assert [b["id"] for b in listed] == [blackout["id"]]
    assert (
        await client.delete(f"/api/v1/venues/{PARIS}/blackouts/{blackout['id']}", headers=staff)
    ).status == 204
    assert (
        await client.delete(f"/api/v1/venues/{PARIS}/blackouts/{blackout['id']}", headers=staff)
    ).status == 404
    slots = (
        await (
            await client.get(f"/api/v1/availability?booths={CANTINE_B},{SF_B}&from=2027-03-16&to=2027-03-16")
        ).json()
    )["slots"]
    assert slots


async def test_blackout_input_errors_name_their_field(client: Any) -> None:
    staff = await token_for(client, STAFF_PARIS)
    cases = [
        ({"start": "2027-03-16T19:00:00", "end": "2027-03-16T14:00:00", "reason": "x"}, "end"),
        ({"start": "tomorrow", "end": "2027-03-16T14:00:00", "reason": "x"}, "start"),
        ({"start": "2027-03-16T14:00:00", "end": "2027-03-16T15:00:00"}, "reason"),
        ({"start": "2027-03-28T02:30:00", "end": "2027-03-28T05:00:00", "reason": "x"}, "start"),
    ]
    for body, field in cases:
        response = await client.post(f"/api/v1/venues/{PARIS}/blackouts", headers=staff, json=body)
        assert response.status == 422, body
        assert (await response.json())["error"]["field"] == field, body
    response = await client.post(
        f"/api/v1/venues/{SF}/blackouts",
        headers=staff,
        json={"start": "2027-03-16T14:00:00", "end": "2027-03-16T15:00:00", "reason": "not mine"},
    )
    assert response.status == 403


async def test_utilization_per_booth_and_local_week(client: Any) -> None:
    ada = await token_for(client, ADA)
    for day in ("2027-03-16", "2027-03-17"):
        response = await client.post(
            "/api/v1/bookings",
            headers=ada,
            json={
                "booths": [CANTINE_A, SF_A],
                "start": f"{day}T17:00:00",
                "timezone": "Europe/Paris",
                "duration_minutes": 90,
                "title": "Pitch",
            },
        )
        assert response.status == 201, await response.text()
    staff = await token_for(client, STAFF_SF)
    response = await client.get(f"/api/v1/venues/{SF}/utilization?from=2027-03-17&weeks=2", headers=staff)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["timezone"] == "America/Los_Angeles"
    first, second = body["weeks"]
    assert first["week_start"] == "2027-03-15" and second["week_start"] == "2027-03-22"
    # Local Monday midnight in San Francisco, already on summer time (UTC-7).
    assert first["start"] == "2027-03-15T07:00:00Z"
    by_booth = {b["booth_id"]: b for b in first["booths"]}
    assert set(by_booth) == {SF_A, SF_B}
    assert by_booth[SF_A]["booked_minutes"] == 180 and by_booth[SF_B]["booked_minutes"] == 0
    assert by_booth[SF_A]["open_minutes"] == 5 * 10 * 60
    assert by_booth[SF_A]["utilization"] == round(180 / 3000, 4)
    assert second["booths"][0]["booked_minutes"] == 0
    assert (await client.get(f"/api/v1/venues/{SF}/utilization", headers=ada)).status == 403
    default = await (await client.get(f"/api/v1/venues/{SF}/utilization?weeks=3", headers=staff)).json()
    # The clock fixture is Monday 1 March 2027: the current week is the last one.
    assert [w["week_start"] for w in default["weeks"]] == ["2027-02-15", "2027-02-22", "2027-03-01"]


async def test_utilization_counts_holidays_and_blackouts_as_closed(client: Any) -> None:
    staff = await token_for(client, STAFF_PARIS)
    # 14 July 2027 is a Wednesday: Paris is open four days that week.
    body = await (
        await client.get(f"/api/v1/venues/{PARIS}/utilization?from=2027-07-12&weeks=1", headers=staff)
    ).json()
    assert body["weeks"][0]["booths"][0]["open_minutes"] == 4 * 10 * 60
    await client.post(
        f"/api/v1/venues/{PARIS}/blackouts",
        headers=staff,
        json={"start": "2027-07-12T00:00:00", "end": "2027-07-19T00:00:00", "reason": "Summer works"},
    )
    body = await (
        await client.get(f"/api/v1/venues/{PARIS}/utilization?from=2027-07-12&weeks=1", headers=staff)
    ).json()
    assert body["weeks"][0]["booths"][0]["open_minutes"] == 0
    assert body["weeks"][0]["booths"][0]["utilization"] is None


def _check(schema_name: str, instance: Any) -> None:
    document = openapi_document()
    registry: Registry[Any] = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(document))
    Draft202012Validator(
        {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}, registry=registry
    ).validate(instance)


async def test_answers_fit_the_documented_schemas(client: Any) -> None:
    staff = await token_for(client, STAFF_PARIS)
    created = await client.post(
        f"/api/v1/venues/{PARIS}/blackouts",
        headers=staff,
        json={"start": "2027-04-01T09:00:00", "end": "2027-04-01T12:00:00", "reason": "Inventory"},
    )
    _check("Blackout", await created.json())
    listed = await (await client.get(f"/api/v1/venues/{PARIS}/blackouts")).json()
    for blackout in listed["blackouts"]:
        _check("Blackout", blackout)
    _check(
        "Utilization",
        await (await client.get(f"/api/v1/venues/{PARIS}/utilization?weeks=2", headers=staff)).json(),
    )
    changed = await client.patch(f"/api/v1/venues/{PARIS}", headers=staff, json={"address": "Rue du Sentier"})
    _check("Venue", await changed.json())


MONTREAL = {
    "name": "Maison Notman",
    "city": "Montréal",
    "timezone": "America/Toronto",
    "country": "CA",
    "subdivision": "QC",
    "address": "51 rue Sherbrooke O",
    "opening_hours": {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "rules": {"buffer_minutes": 15},
}


async def test_a_third_city_is_data_added_by_an_admin(client) -> None:
    admin = await token_for(client, ADMIN)
    assert (await client.post("/api/v1/venues", json=MONTREAL, headers=await token_for(client))).status == 403
    response = await client.post("/api/v1/venues", json=MONTREAL, headers=admin)
    assert response.status == 201, await response.text()
    venue = await response.json()
    assert (venue["timezone"], venue["rules"]["buffer_minutes"], venue["rules"]["grid_minutes"]) == (
        "America/Toronto",
        15,
        15,
    )
    booth = await client.post(
        "/api/v1/booths", json={"name": "Notman 1", "venue_id": venue["id"]}, headers=admin
    )
    assert booth.status == 201, await booth.text()
    booth_id = (await booth.json())["id"]
    booked = await client.post(
        "/api/v1/bookings",
        headers=await token_for(client),
        json={
            "booths": [1, booth_id],
            "start": "2027-03-16T15:00:00Z",
            "duration_minutes": 60,
            "title": "Trois villes",
        },
    )
    assert booked.status == 201, await booked.text()
    montreal = (await booked.json())["booths"][1]["local"]
    assert montreal == {
        "start": "2027-03-16T11:00:00-04:00",
        "end": "2027-03-16T12:00:00-04:00",
        "timezone": "America/Toronto",
    }
    # Québec's Good Friday closes the venue, by the holidays package's name for it.
    closed = await client.post(
        "/api/v1/bookings",
        headers=await token_for(client),
        json={"booths": [1, booth_id], "start": "2027-03-26T15:00:00Z", "duration_minutes": 60, "title": "x"},
    )
    assert (await closed.json())["error"]["code"] == "closure"
    assert (await client.post("/api/v1/venues", json=MONTREAL, headers=admin)).status == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"country": "XX"}, "country"),
        ({"subdivision": "ZZ"}, "subdivision"),
        ({"rules": {"buffer_minutes": -5}}, "rules.buffer_minutes"),
        ({"rules": {"coffee_minutes": 5}}, "rules"),
        ({"opening_hours": {"mon": [["18:00", "09:00"]]}}, "opening_hours"),
        ({"opening_hours": None}, "opening_hours"),
        ({"name": ""}, "name"),
    ],
)
async def test_bad_venues_are_refused_by_field(client, change, field) -> None:
    response = await client.post(
        "/api/v1/venues", json=MONTREAL | change, headers=await token_for(client, ADMIN)
    )
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["field"] == field
    assert len((await (await client.get("/api/v1/venues")).json())["venues"]) == 2

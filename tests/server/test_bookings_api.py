"""The booking API against the real app on SQLite (and PostgreSQL where marked)."""

from __future__ import annotations

import pytest

from tests.conftest import (
    ADA,
    ADMIN,
    CANTINE_A,
    CANTINE_B,
    SF_B,
    STAFF_PARIS,
    STAFF_SF,
    booking,
    token_for,
)


@pytest.mark.parametrize(
    ("paris_local", "utc", "sf_local"),
    [
        # 8-hour week (US already on PDT, France still on CET): 17:00 Paris is 09:00 in SF.
        ("2027-03-16T17:00:00", "2027-03-16T16:00:00Z", "2027-03-16T09:00:00-07:00"),
        # Ordinary 9-hour week: 17:00 Paris is 08:00 in SF.
        ("2027-03-09T17:00:00", "2027-03-09T16:00:00Z", "2027-03-09T08:00:00-08:00"),
        # After Europe's change, back to 9 hours, both on summer time.
        ("2027-03-30T17:00:00", "2027-03-30T15:00:00Z", "2027-03-30T08:00:00-07:00"),
    ],
)
async def test_booking_in_local_time_shows_both_cities(client, paris_local, utc, sf_local) -> None:
    headers = await token_for(client)
    response = await client.post(
        "/api/v1/bookings", headers=headers, json=booking(paris_local, timezone="Europe/Paris")
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["start"] == utc
    assert body["status"] == "confirmed" and body["sequence"] == 0
    paris, sf = body["booths"]
    assert paris["local"]["start"].startswith(paris_local)
    assert sf["local"]["start"] == sf_local
    assert response.headers["Location"] == f"/api/v1/bookings/{body['id']}"


async def test_conflict_names_booth_and_range_and_buffer_counts(client) -> None:
    headers = await token_for(client)
    assert (
        await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    ).status == 201
    # Same Paris booth, other SF booth, starting right at the end: inside the 10-minute buffer.
    response = await client.post(
        "/api/v1/bookings", headers=headers, json=booking("2027-03-16T17:00:00Z", booths=(CANTINE_A, SF_B))
    )
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "conflict"
    assert [c["booth_id"] for c in error["conflicts"]] == [CANTINE_A]
    assert "Cantine A" in error["message"] and "2027-03-16T16:00:00Z" in error["message"]
    # Other booths in both cities are free.
    response = await client.post(
        "/api/v1/bookings", headers=headers, json=booking("2027-03-16T17:00:00Z", booths=(CANTINE_B, SF_B))
    )
    assert response.status == 201


@pytest.mark.parametrize(
    ("payload", "code", "needle"),
    [
        (booking("2027-03-16T06:00:00Z"), "opening_hours", "Cantine A"),
        (booking("2027-03-29T16:00:00Z"), "closure", "La Cantine"),  # Easter Monday in France
        (booking("2027-03-31T16:00:00Z"), "closure", "Mission Bay Commons"),  # Cesar Chavez Day, California
        (booking("2027-03-01T13:00:00Z"), "notice", "120 minutes"),
        (booking("2027-06-15T16:00:00Z"), "advance", "90 days"),
        (booking("2027-03-16T16:05:00Z"), "grid", "15"),
        (booking("2027-03-16T16:00:00Z", minutes=150), "duration", "120"),
        (booking("2027-03-16T16:00:00Z", minutes=10), "duration", "15"),
    ],
)
async def test_each_rule_is_named(client, payload, code, needle) -> None:
    response = await client.post("/api/v1/bookings", headers=await token_for(client), json=payload)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == code
    assert needle in error["message"]


@pytest.mark.parametrize(
    ("start", "tz", "code"),
    [
        ("2027-03-28T02:30:00", "Europe/Paris", "nonexistent_local_time"),
        ("2027-03-14T02:30:00", "America/Los_Angeles", "nonexistent_local_time"),
        ("2027-10-31T02:30:00", "Europe/Paris", "ambiguous_local_time"),
        ("2027-11-07T01:30:00", "America/Los_Angeles", "ambiguous_local_time"),
    ],
)
async def test_dst_gaps_and_repeats_are_refused_not_shifted(client, start, tz, code) -> None:
    response = await client.post(
        "/api/v1/bookings", headers=await token_for(client), json=booking(start, timezone=tz)
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == (code, "start")
    assert tz in error["message"]


async def test_weekly_quota(client) -> None:
    headers = await token_for(client)
    for start in ("2027-03-16T16:00:00Z", "2027-03-17T16:00:00Z"):
        response = await client.post("/api/v1/bookings", headers=headers, json=booking(start, minutes=120))
        assert response.status == 201, await response.text()
    response = await client.post(
        "/api/v1/bookings", headers=headers, json=booking("2027-03-18T16:00:00Z", minutes=15)
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "quota"
    # The next ISO week has its own quota.
    response = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-23T16:00:00Z"))
    assert response.status == 201


async def test_reschedule_and_cancel_keep_the_booking_and_bump_sequence(client) -> None:
    headers = await token_for(client)
    created = await (
        await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    ).json()
    url = f"/api/v1/bookings/{created['id']}"
    # Moving by 15 minutes overlaps its own old range: that is not a conflict.
    response = await client.patch(url, headers=headers, json={"start": "2027-03-16T16:15:00Z"})
    assert response.status == 200, await response.text()
    moved = await response.json()
    assert (moved["id"], moved["uid"], moved["sequence"], moved["start"]) == (
        created["id"],
        created["uid"],
        1,
        "2027-03-16T16:15:00Z",
    )
    response = await client.patch(url, headers=headers, json={"start": "2027-03-16T06:00:00Z"})
    assert (await response.json())["error"]["code"] == "opening_hours"
    assert (await (await client.get(url, headers=headers)).json())[
        "sequence"
    ] == 1  # refused change left no trace

    cancelled = await (await client.delete(url, headers=headers)).json()
    assert (cancelled["status"], cancelled["sequence"]) == ("cancelled", 2)
    listed = await (await client.get("/api/v1/bookings", headers=headers)).json()
    assert [b["status"] for b in listed["bookings"]] == ["cancelled"]
    # The booths are free again.
    assert (
        await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:15:00Z"))
    ).status == 201
    response = await client.patch(url, headers=headers, json={"title": "Again"})
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "booking_cancelled"


async def test_idempotency_key_gives_the_same_result(client) -> None:
    headers = await token_for(client) | {"Idempotency-Key": "pitch-42"}
    first = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    again = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    assert first.status == again.status == 201
    assert (await first.json())["id"] == (await again.json())["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-17T16:00:00Z"))
    assert other.status == 422
    assert (await other.json())["error"]["field"] == "idempotency_key"
    listed = await (await client.get("/api/v1/bookings", headers=headers)).json()
    assert len(listed["bookings"]) == 1


async def test_who_sees_what(client) -> None:
    ada = await token_for(client)
    paris_only = await (
        await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    ).json()
    register = {"email": "bob@example.com", "password": "long enough pw", "name": "Bob", "company": "B"}
    assert (await client.post("/api/v1/accounts", json=register)).status == 201
    bob = await token_for(client, "bob@example.com", "long enough pw")
    assert (await client.get(f"/api/v1/bookings/{paris_only['id']}", headers=bob)).status == 404
    assert (await (await client.get("/api/v1/bookings", headers=bob)).json())["bookings"] == []
    for email in (STAFF_PARIS, STAFF_SF, ADMIN):
        staff = await token_for(client, email)
        listed = await (await client.get("/api/v1/bookings", headers=staff)).json()
        assert [b["id"] for b in listed["bookings"]] == [paris_only["id"]], email
    assert (await client.get("/api/v1/bookings", headers=await token_for(client, ADA))).status == 200


async def test_override_needs_staff_of_a_booked_venue_and_is_recorded(client) -> None:
    early = booking("2027-03-16T06:00:00Z", override_reason="Press visit before opening")
    response = await client.post("/api/v1/bookings", headers=await token_for(client), json=early)
    assert response.status == 403
    response = await client.post("/api/v1/bookings", headers=await token_for(client, STAFF_PARIS), json=early)
    assert response.status == 201, await response.text()
    assert (await response.json())["override_reason"] == "Press visit before opening"
    # An override never allows a double booking.
    response = await client.post("/api/v1/bookings", headers=await token_for(client, ADMIN), json=early)
    assert response.status == 409


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"booths": "1,3", "start": 5, "duration_minutes": 60, "title": "x"}, 422, "start"),
        ({"booths": [1, 3], "start": "tomorrow", "duration_minutes": 60, "title": "x"}, 422, "start"),
        (
            {"booths": [1, 99], "start": "2027-03-16T16:00:00Z", "duration_minutes": 60, "title": "x"},
            422,
            "booths",
        ),
        (
            {"booths": [1, 2], "start": "2027-03-16T16:00:00Z", "duration_minutes": 60, "title": "x"},
            422,
            "booths",
        ),
        (
            {"booths": [1], "start": "2027-03-16T16:00:00Z", "duration_minutes": 60, "title": "x"},
            422,
            "booths",
        ),
        (
            {"booths": [1, 3], "start": "2027-03-16T16:00:00Z", "duration_minutes": "sixty", "title": "x"},
            422,
            "duration_minutes",
        ),
        (
            {"booths": [1, 3], "start": "2027-03-16T16:00:00Z", "duration_minutes": 60, "title": ""},
            422,
            "title",
        ),
        (
            {"booths": [1, 3], "start": "2027-03-16T16:00:00", "duration_minutes": 60, "title": "x"},
            422,
            "start",
        ),
        (
            {
                "booths": [1, 3],
                "start": "2027-03-16T16:00:00",
                "timezone": "Mars/Olympus",
                "duration_minutes": 60,
                "title": "x",
            },
            422,
            "timezone",
        ),
        (
            {"booths": [True, 3], "start": "2027-03-16T16:00:00Z", "duration_minutes": 60, "title": "x"},
            422,
            "booths",
        ),
        (
            {
                "booths": [1, 3],
                "start": "2027-03-16T16:00:00Z",
                "duration_minutes": 60,
                "title": "x",
                "guests": ["not-an-email"],
            },
            422,
            "guests",
        ),
        ([1, 2, 3], 422, "body"),
    ],
)
async def test_bad_input_is_named_and_writes_nothing(client, body, status, field) -> None:
    headers = await token_for(client)
    response = await client.post("/api/v1/bookings", headers=headers, json=body)
    assert response.status == status, await response.text()
    assert (await response.json())["error"]["field"] == field
    assert (await (await client.get("/api/v1/bookings", headers=headers)).json())["bookings"] == []


async def test_unreadable_requests(client) -> None:
    headers = await token_for(client)
    response = await client.post(
        "/api/v1/bookings", headers=headers | {"Content-Type": "application/json"}, data=b'{"booths": [1,'
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_json"
    response = await client.post(
        "/api/v1/bookings",
        headers=headers | {"Content-Type": "application/json"},
        data=b'"' + b"x" * (1024 * 1024 + 10) + b'"',
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"
    assert (await client.post("/api/v1/bookings", json=booking("2027-03-16T16:00:00Z"))).status == 401
    response = await client.post("/api/v1/bookings", headers={"Authorization": "Bearer nope"}, json={})
    assert response.status == 401
    assert (await client.get("/api/v1/bookings/abc", headers=headers)).status == 422
    assert (await client.get("/api/v1/bookings/999", headers=headers)).status == 404
    assert (await client.get("/api/v1/nothing-here")).status == 404
    assert (await (await client.put("/api/v1/bookings", headers=headers)).json())["error"][
        "code"
    ] == "method_not_allowed"


async def test_cookie_session_requires_csrf_header_for_writes(client) -> None:
    response = await client.post("/api/v1/session", json={"email": ADA, "password": "sister-cities-demo"})
    assert response.status == 201
    csrf = (await response.json())["csrf_token"]
    assert (await client.get("/api/v1/me")).status == 200  # the cookie jar carries the session
    response = await client.post("/api/v1/bookings", json=booking("2027-03-16T16:00:00Z"))
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "csrf"
    response = await client.post(
        "/api/v1/bookings", json=booking("2027-03-16T16:00:00Z"), headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 201
    assert (await client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})).status == 204
    assert (await client.get("/api/v1/me")).status == 401


async def test_accounts_and_tokens(client) -> None:
    body = {"email": "Eve@Example.com", "password": "correct horse battery", "name": "Eve"}
    response = await client.post("/api/v1/accounts", json=body)
    assert response.status == 201
    account = await response.json()
    assert (account["email"], account["role"]) == ("eve@example.com", "entrepreneur")
    assert "password" not in str(account)
    assert (await client.post("/api/v1/accounts", json=body)).status == 409
    assert (
        await client.post("/api/v1/accounts", json=body | {"email": "x@y.z", "password": "short"})
    ).status == 422
    assert (
        await client.post("/api/v1/accounts", json=body | {"email": "z@y.z", "role": "admin"})
    ).status == 403
    wrong = await client.post(
        "/api/v1/tokens", json={"email": "eve@example.com", "password": "wrong password"}
    )
    assert wrong.status == 401
    headers = await token_for(client, "eve@example.com", "correct horse battery")
    assert (await (await client.get("/api/v1/me", headers=headers)).json())["name"] == "Eve"
    assert (await client.delete("/api/v1/tokens/current", headers=headers)).status == 204
    assert (await client.get("/api/v1/me", headers=headers)).status == 401
    admin = await token_for(client, ADMIN)
    staff = {
        "email": "new.staff@example.com",
        "password": "a good password",
        "name": "N",
        "role": "staff",
        "venue_id": 2,
    }
    response = await client.post("/api/v1/accounts", json=staff, headers=admin)
    assert response.status == 201
    assert ((await response.json())["role"], (await response.json())["venue_id"]) == ("staff", 2)


async def test_catalog_and_availability(client) -> None:
    venues = (await (await client.get("/api/v1/venues")).json())["venues"]
    assert [(v["city"], v["timezone"]) for v in venues] == [
        ("Paris", "Europe/Paris"),
        ("San Francisco", "America/Los_Angeles"),
    ]
    assert venues[0]["opening_hours"]["mon"] == [["09:00", "19:00"]]
    booths = (await (await client.get("/api/v1/booths")).json())["booths"]
    assert [(b["id"], b["name"], b["venue_id"]) for b in booths] == [
        (1, "Cantine A", 1),
        (2, "Cantine B", 1),
        (3, "SF A", 2),
        (4, "SF B", 2),
    ]

    url = "/api/v1/availability?booths=1,3&from=2027-03-16&to=2027-03-16&duration=60"
    slots = (await (await client.get(url)).json())["slots"]
    # In the 8-hour week SF opens at 08:00 = 16:00 Paris: common hours 16:00–19:00 Paris.
    assert slots[0]["start"] == "2027-03-16T15:00:00Z" and slots[-1]["end"] == "2027-03-16T18:00:00Z"
    assert slots[0]["local"]["3"] == {
        "start": "2027-03-16T08:00:00-07:00",
        "end": "2027-03-16T09:00:00-07:00",
        "timezone": "America/Los_Angeles",
    }
    await client.post(
        "/api/v1/bookings", headers=await token_for(client), json=booking("2027-03-16T16:00:00Z")
    )
    after = {s["start"] for s in (await (await client.get(url)).json())["slots"]}
    assert "2027-03-16T16:00:00Z" not in after and "2027-03-16T15:00:00Z" not in after
    for bad, field in (
        ("booths=1,3&from=2027-03-16", "to"),
        ("booths=x&from=2027-03-16&to=2027-03-17", "booths"),
        ("booths=1,3&from=2027-03-16&to=2027-03-17&duration=7", "duration"),
        ("booths=1,3&from=2027-03-17&to=2027-03-16", "to"),
    ):
        response = await client.get(f"/api/v1/availability?{bad}")
        assert response.status == 422, bad
        assert (await response.json())["error"]["field"] == field, bad


@pytest.mark.postgres
async def test_booking_flow_on_postgres(make_client, postgres_url) -> None:
    client = await make_client(postgres_url)
    headers = await token_for(client)
    first = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    assert first.status == 201
    clash = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:45:00Z"))
    assert clash.status == 409
    created = await first.json()
    cancelled = await client.delete(f"/api/v1/bookings/{created['id']}", headers=headers)
    assert (await cancelled.json())["status"] == "cancelled"
    assert (
        await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:45:00Z"))
    ).status == 201


async def test_availability_for_a_reschedule_frees_the_booking_s_own_place(client) -> None:
    headers = await token_for(client)
    created = await (
        await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    ).json()
    url = "/api/v1/availability?booths=1,3&from=2027-03-16&to=2027-03-16&duration=60"
    taken = {s["start"] for s in (await (await client.get(url)).json())["slots"]}
    assert "2027-03-16T16:00:00Z" not in taken
    moving = await client.get(f"{url}&ignore_booking={created['id']}", headers=headers)
    assert "2027-03-16T16:00:00Z" in {s["start"] for s in (await moving.json())["slots"]}
    assert (await client.get(f"{url}&ignore_booking={created['id']}")).status == 401
    register = {"email": "eve@example.com", "password": "long enough pw", "name": "Eve"}
    assert (await client.post("/api/v1/accounts", json=register)).status == 201
    eve = await token_for(client, "eve@example.com", "long enough pw")
    assert (await client.get(f"{url}&ignore_booking={created['id']}", headers=eve)).status == 404

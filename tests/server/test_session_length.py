"""Extensions cannot grow a session past its venues' maximum, which no override lifts.

The reads do not rely on this cap: a longer row still shows (tests/server/test_long_bookings.py).
"""

from __future__ import annotations

from tests.conftest import ADMIN, CANTINE_A, SF_A, booking, token_for


async def test_extensions_stop_at_the_longest_session_and_free_busy_shows_it_all(client) -> None:
    admin = await token_for(client, ADMIN)
    made = await client.post(
        "/api/v1/bookings",
        headers=admin,
        json=booking("2027-03-16T09:00:00Z", minutes=120, override_reason="board day"),
    )
    assert made.status == 201, await made.text()
    booking_id = (await made.json())["id"]
    venues = (await (await client.get("/api/v1/venues")).json())["venues"]
    assert {v["rules"]["max_session_minutes"] for v in venues} == {360}
    url = f"/api/v1/bookings/{booking_id}/extend"
    extended = await client.post(url, headers=admin, json={"minutes": 240})
    assert extended.status == 200, await extended.text()
    assert (await extended.json())["end"] == "2027-03-16T15:00:00Z"
    refused = await client.post(url, headers=admin, json={"minutes": 15, "reason": "one more"})
    assert refused.status == 422, await refused.text()
    error = (await refused.json())["error"]
    assert (error["code"], error["field"]) == ("session_too_long", "duration_minutes")
    assert "360 minutes" in error["message"] and "375" in error["message"]
    # A booking or a move that an override lets past the other rules is held to it too.
    too_long = booking("2027-03-20T09:00:00Z", minutes=375, override_reason="all day")
    refused = await client.post("/api/v1/bookings", headers=admin, json=too_long)
    assert (await refused.json())["error"]["code"] == "session_too_long"
    for booth in (CANTINE_A, SF_A):
        response = await client.get(f"/feeds/booths/{booth}/freebusy.ics?from=2027-03-16&to=2027-03-16")
        text = (await response.read()).decode()
        assert "FREEBUSY;VALUE=PERIOD;FBTYPE=BUSY:20270316T090000Z/20270316T150000Z" in text.replace(
            "\r\n ", ""
        ), text

"""Double booking under concurrency: exactly one of many overlapping requests wins, on both engines."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.conftest import ADMIN, CANTINE_A, SF_A, token_for


def overlapping(i: int) -> dict[str, object]:
    """Fifty requests whose ranges all overlap each other: starts within 45 minutes, 60 minutes long."""
    minute = 15 * (i % 4)
    return {
        "booths": [CANTINE_A, SF_A],
        "start": f"2027-03-16T16:{minute:02d}:00Z",
        "duration_minutes": 60,
        "title": f"Request {i}",
    }


async def _stored(client, headers) -> list[dict[str, object]]:
    return (await (await client.get("/api/v1/bookings", headers=headers)).json())["bookings"]


async def test_fifty_concurrent_requests_one_organizer(make_client, database_url) -> None:
    client = await make_client(database_url)
    headers = await token_for(client)
    responses = await asyncio.gather(
        *(client.post("/api/v1/bookings", headers=headers, json=overlapping(i)) for i in range(50))
    )
    assert Counter(r.status for r in responses) == {201: 1, 409: 49}
    assert len(await _stored(client, headers)) == 1


async def test_fifty_concurrent_requests_many_organizers(make_client, database_url) -> None:
    """Different organizers are not serialized by the quota lock: the database constraint decides."""
    client = await make_client(database_url)
    organizers = []
    for n in range(10):
        account = {"email": f"org{n}@example.com", "password": "concurrency-pw", "name": f"Org {n}"}
        assert (await client.post("/api/v1/accounts", json=account)).status == 201
        organizers.append(await token_for(client, account["email"], "concurrency-pw"))
    responses = await asyncio.gather(
        *(client.post("/api/v1/bookings", headers=organizers[i % 10], json=overlapping(i)) for i in range(50))
    )
    assert Counter(r.status for r in responses) == {201: 1, 409: 49}
    for response in responses:
        if response.status == 409:
            assert (await response.json())["error"]["code"] == "conflict"
    assert len(await _stored(client, await token_for(client, ADMIN))) == 1


async def test_concurrent_non_overlapping_requests_all_succeed(make_client, database_url) -> None:
    client = await make_client(database_url)
    headers = await token_for(client, ADMIN)
    base = "2027-03-{day:02d}T16:00:00Z"
    days = [d for d in range(8, 27) if d not in (13, 14, 20, 21)][:12]  # weekdays only
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/bookings",
                headers=headers,
                json={
                    "booths": [CANTINE_A, SF_A],
                    "start": base.format(day=day),
                    "duration_minutes": 30,
                    "title": "ok",
                },
            )
            for day in days
        )
    )
    assert [r.status for r in responses] == [201] * len(days), [
        await r.text() for r in responses if r.status != 201
    ]

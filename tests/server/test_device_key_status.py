"""Staff see which booths have a live device key, since when, and when each booth last used it."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import CANTINE_A, CANTINE_B, SF_A
from tests.server.signalling_support import booked_session, check_openapi, instant


async def test_key_status_issued_and_last_seen(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    c = s.client

    async def statuses(venue: int = 1, headers: dict[str, str] | None = None) -> dict[int, dict]:
        response = await c.get(f"/api/v1/venues/{venue}/device-keys", headers=headers or s.staff_paris)
        assert response.status == 200, await response.text()
        body = await response.json()
        check_openapi("DeviceKeyStatus", body)
        assert body["venue_id"] == venue
        return {b["booth_id"]: b for b in body["booths"]}

    # Only staff of the venue or an admin; never the key itself.
    assert (await c.get("/api/v1/venues/1/device-keys", headers=s.ada)).status == 403
    assert (await c.get("/api/v1/venues/1/device-keys", headers=s.staff_sf)).status == 403
    assert (await c.get("/api/v1/venues/1/device-keys")).status == 401
    assert (await c.get("/api/v1/venues/99/device-keys", headers=s.staff_paris)).status == 404
    assert (await c.get("/api/v1/venues/x/device-keys", headers=s.staff_paris)).status == 422
    assert (
        s.keys[CANTINE_A]
        not in await (await c.get("/api/v1/venues/1/device-keys", headers=s.staff_paris)).text()
    )

    # Paired before the clock moved to 15:56 on 16 March; never used yet. Cantine B has no key.
    before = await statuses()
    assert set(before) == {CANTINE_A, CANTINE_B}
    assert before[CANTINE_B] == {"booth_id": CANTINE_B, "issued_at": None, "last_seen_at": None}
    assert before[CANTINE_A]["issued_at"] is not None and before[CANTINE_A]["last_seen_at"] is None

    # The kiosk page's request counts as seen, and so does a signalling hello.
    seen = await c.get("/api/v1/kiosk", headers={"Authorization": f"Device {s.keys[CANTINE_A]}"})
    assert seen.status == 200
    first = instant((await statuses())[CANTINE_A]["last_seen_at"])
    assert abs(first - s.clock.now()) < timedelta(seconds=5)
    s.clock.advance(timedelta(minutes=3))
    await s.connect(CANTINE_A)
    second = instant((await statuses())[CANTINE_A]["last_seen_at"])
    assert second - first >= timedelta(minutes=3)
    # Within a minute, seeing it again does not write.
    s.clock.advance(timedelta(seconds=20))
    await c.get("/api/v1/kiosk", headers={"Authorization": f"Device {s.keys[CANTINE_A]}"})
    assert instant((await statuses())[CANTINE_A]["last_seen_at"]) == second

    # A new key starts unseen; revoking leaves the booth without a key.
    rotated = await c.post(f"/api/v1/booths/{CANTINE_A}/device-key", headers=s.staff_paris)
    assert rotated.status == 201
    fresh = (await statuses())[CANTINE_A]
    assert fresh["last_seen_at"] is None and instant(fresh["issued_at"]) >= second
    assert (await c.delete(f"/api/v1/booths/{CANTINE_A}/device-key", headers=s.staff_paris)).status == 204
    assert (await statuses())[CANTINE_A]["issued_at"] is None
    # San Francisco's staff see their own venue.
    assert (await statuses(2, s.staff_sf))[SF_A]["issued_at"] is not None

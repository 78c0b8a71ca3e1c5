"""Online password guessing is slowed to a few tries a minute, without locking the real user out.

The clock here stands still unless a test moves it: the buckets refill with the app's clock, and
a busy machine's real seconds between two requests must not refill them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from booth_server.app import openapi_document
from booth_server.clock import Clock
from tests.conftest import ADA, DEMO_PASSWORD
from tests.server.signalling_support import check_openapi


class StillClock(Clock):
    """The app's clock, standing still between the test's ``advance`` calls."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._at = start

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta
        super().advance(delta)


@pytest.fixture
def clock() -> Clock:
    return StillClock(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))


async def _login(client: Any, email: str, password: str, **headers: str) -> Any:
    return await client.post("/api/v1/tokens", json={"email": email, "password": password}, headers=headers)


async def test_guessing_one_password_is_slowed_then_the_owner_gets_in(client, clock) -> None:
    statuses = [(await _login(client, ADA, f"wrong guess {n}")).status for n in range(5)]
    assert statuses == [401] * 5
    slowed = await _login(client, ADA, "wrong guess 5")
    assert slowed.status == 429
    error = (await slowed.json())["error"]
    assert (error["code"], error["field"]) == ("too_many_tries", "email")
    # One try every 20 s once the burst of 5 is spent.
    assert error["retry_after"] == 20
    assert slowed.headers["Retry-After"] == str(error["retry_after"])
    # The right password is held back too (the throttle runs before the password is checked)...
    assert (await _login(client, ADA, DEMO_PASSWORD)).status == 429
    # ... only until Retry-After.
    clock.advance(timedelta(seconds=19))
    assert (await _login(client, ADA, DEMO_PASSWORD)).status == 429
    clock.advance(timedelta(seconds=1))
    assert (await _login(client, ADA, DEMO_PASSWORD)).status == 201
    # A guesser keeps getting 3 tries a minute, no more.
    clock.advance(timedelta(minutes=1))
    statuses = [(await _login(client, ADA, f"again {n}")).status for n in range(4)]
    assert statuses == [401, 401, 401, 429]


async def test_a_spray_over_many_accounts_is_slowed_per_address(client, clock) -> None:
    statuses = [(await _login(client, f"nobody{n}@example.org", "a guess at it")).status for n in range(31)]
    assert statuses == [401] * 30 + [429]
    # Another client behind the same local proxy (which names it in X-Forwarded-For) is not slowed.
    other = await _login(client, "nobody@example.org", "a guess at it", **{"X-Forwarded-For": "203.0.113.9"})
    assert other.status == 401
    assert (await _login(client, "nobody@example.org", "a guess at it")).status == 429
    clock.advance(timedelta(seconds=6))
    assert (await _login(client, "nobody@example.org", "a guess at it")).status == 401


async def test_registration_cannot_probe_emails_without_limit(client) -> None:
    statuses = []
    for n in range(21):
        response = await client.post(
            "/api/v1/accounts",
            json={
                "email": ADA if n % 2 else f"new{n}@example.org",
                "password": "long enough pw",
                "name": "N",
            },
        )
        statuses.append(response.status)
    assert statuses[:20] == [201, 409] * 10
    assert statuses[20] == 429


async def test_the_429_answer_fits_the_documented_error(client) -> None:
    for n in range(5):
        await _login(client, ADA, f"wrong guess {n}")
    slowed = await _login(client, ADA, "wrong guess 5")
    assert slowed.status == 429
    check_openapi("Error", await slowed.json())
    documented = openapi_document()["paths"]["/api/v1/tokens"]["post"]["responses"]["429"]
    assert "Retry-After" in documented["headers"]

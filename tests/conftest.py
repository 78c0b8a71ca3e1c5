"""Shared fixtures: databases on both engines, a running app, demo accounts.

Under ``CI=true`` a test that needs PostgreSQL, Redis or Chromium fails when it is missing;
elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booth_server.app import create_app
from booth_server.clock import Clock
from booth_server.config import Config

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "SEBASTIAN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SEBASTIAN_TEST_REDIS", "redis://127.0.0.1:6379/0")
DEMO_PASSWORD = "sister-cities-demo"
ADA = "ada@demo.sebastian.example"
ADMIN = "admin@demo.sebastian.example"
STAFF_PARIS = "staff.paris@demo.sebastian.example"
STAFF_SF = "staff.sf@demo.sebastian.example"
#: Demo booth ids: the seed creates them in this order.
CANTINE_A, CANTINE_B, SF_A, SF_B = 1, 2, 3, 4


def missing_service(what: str, reason: str) -> None:
    """Skip with the reason, or fail under CI where every service must be there."""
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true: {reason}")
    pytest.skip(f"{what} is not available here: {reason}")


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'sebastian-test.db'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database with a unique name on the PostgreSQL server, dropped afterwards."""
    import asyncpg

    name = f"sebastian_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = POSTGRES_ADMIN_URL
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        missing_service("PostgreSQL", f"{admin_dsn}: {exc}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_dsn.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """Run the test on both engines."""
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> Clock:
    """Monday 1 March 2027, 12:00 UTC: two weeks before the first 8-hour week of 2027."""
    return Clock(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))


AppFactory = Callable[..., Any]


@pytest.fixture
async def make_client(clock: Clock, tmp_path: Any) -> AsyncIterator[AppFactory]:
    """Start the real app on a free port; returns an aiohttp test client."""
    clients: list[TestClient[Any, Any]] = []

    async def start(database: str, *, demo: bool = True, **config: Any) -> TestClient[Any, Any]:
        if not database.startswith("sqlite"):  # the default maildir would be in the working directory
            config.setdefault("maildir", str(tmp_path / "sebastian.maildir"))
        # Self-tests send real media: only tests/media (the loopback-only namespace) and the
        # tests that never open a peer connection turn them on.
        config.setdefault("selftest", False)
        app = create_app(Config(database=database, demo=demo, **config), clock=clock)
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: AppFactory, sqlite_url: str) -> TestClient[Any, Any]:
    return await make_client(sqlite_url)


def booking(
    start: str, *, booths: tuple[int, ...] = (CANTINE_A, SF_A), minutes: int = 60, **extra: Any
) -> dict[str, Any]:
    """The body of a booking request: Cantine A with SF A, an hour, unless told otherwise."""
    return {"booths": list(booths), "start": start, "duration_minutes": minutes, "title": "Pitch", **extra}


async def token_for(
    client: TestClient[Any, Any], email: str = ADA, password: str = DEMO_PASSWORD
) -> dict[str, str]:
    response = await client.post("/api/v1/tokens", json={"email": email, "password": password})
    assert response.status == 201, await response.text()
    return {"Authorization": f"Bearer {(await response.json())['token']}"}


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own in the shared Redis, removed afterwards."""
    import redis.asyncio as redis

    client: Any = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        missing_service("Redis", f"{REDIS_URL}: {exc}")
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def smtp_server() -> AsyncIterator[Any]:
    """A real SMTP server (aiosmtpd) in the test process: tests/server/smtp_support.py."""
    from tests.server.smtp_support import SmtpServer

    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()

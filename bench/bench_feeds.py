"""How long a 10,000-booking organizer feed takes over HTTP, and how cheap its 304 is. Not a test.

    python bench/bench_feeds.py [--bookings 10000] [--runs 5] [--polls 300] [--database URL] [--feed-index]

One run, one process: the real app (``create_app``) on a loopback port with a temporary SQLite
database (or ``--database``, e.g. an empty PostgreSQL database), demo data, and ``--bookings``
bookings of the demo entrepreneur inserted directly as rows (``scheduler.tables``, no booking
rules; about 5 % cancelled, all inside the feed window). Then, through the real endpoint
``GET /feeds/organizer/{token}.ics``:

* full answer, cold: the render memo of ``scheduler.ical`` cleared before each request (the first
  poll after a restart), median of ``--runs``;
* full answer, warm: every event rendered once already (a poll after a small change);
* 304: ``If-None-Match`` with the current ETag, median and 90th percentile of ``--polls`` (≥ 200)
  requests, and the ratio full/304 (goal: 304 median ≤ 2 ms and ≥ 100× cheaper than a full
  render);
* the same 304 decision without HTTP (one query: the token joined with its account and its
  ``feed_versions`` row), and the parts of a full answer (loading the bookings, rendering cold and
  warm), to show where the time goes;
* ``os.cpu_count()``: these machines have 2 noisy cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from booth_server import auth  # noqa: E402
from booth_server.app import create_app  # noqa: E402
from booth_server.clock import Clock  # noqa: E402
from booth_server.config import Config  # noqa: E402
from booth_server.keys import DATABASE, STORE  # noqa: E402
from scheduler import ical  # noqa: E402
from scheduler.database import Database  # noqa: E402
from scheduler.feeds import FeedRepository, FeedSubject, feed_day  # noqa: E402
from scheduler.tables import AccountRow, BookingRow, BoothHoldRow  # noqa: E402

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ADA = "ada@demo.sebastian.example"
PASSWORD = "sister-cities-demo"
PAIRS = ((1, 3), (2, 4))  # Paris and San Francisco booths of the demo data
BUFFER = timedelta(minutes=10)
FEED_INDEX = (
    "CREATE INDEX bench_feed_version ON bookings (organizer_id, end_at, start_at, status, updated_at)"
)


@contextlib.asynccontextmanager
async def demo_app(database: str | None) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    """The real app with demo data at NOW on a loopback port, and its database URL: ``database``,
    or a temporary SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database or f"sqlite:///{tmp}/bench.db"
        app = create_app(Config(database=url, demo=True), clock=Clock(NOW))
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            yield client, url
        finally:
            await client.close()


async def seed(client: TestClient[Any, Any], count: int) -> int:
    """Insert ``count`` bookings of Ada as rows, alternating booth pairs, 90 minutes apart per pair."""
    database = client.app[DATABASE]
    async with database.read() as session:
        ada_id = await session.scalar(select(AccountRow.id).where(AccountRow.email == ADA))
    assert ada_id is not None
    first = NOW - timedelta(days=25)
    bookings, holds = [], []
    for i in range(count):
        start = first + (i // len(PAIRS)) * timedelta(minutes=90)
        end = start + timedelta(minutes=60)
        cancelled = i % 20 == 19
        updated = NOW - timedelta(days=2) if cancelled else NOW - timedelta(days=40)
        bookings.append(
            {
                "id": i + 1,
                "uid": f"bench-{i:06d}@sebastian",
                "title": f"Pitch #{i} — Café, demo; round 2",
                "organizer_id": ada_id,
                "status": "cancelled" if cancelled else "confirmed",
                "start_at": start,
                "end_at": end,
                "sequence": 1 if cancelled else 0,
                "guests": ["bob@example.com"] if i % 3 == 0 else [],
                "created_at": NOW - timedelta(days=40),
                "updated_at": updated,
            }
        )
        for position, booth_id in enumerate(PAIRS[i % len(PAIRS)]):
            holds.append(
                {
                    "booking_id": i + 1,
                    "booth_id": booth_id,
                    "position": position,
                    "start_at": start,
                    "blocked_until": end + BUFFER,
                    "active": not cancelled,
                }
            )
    await insert_rows(database, bookings, holds)
    return ada_id


async def insert_rows(
    database: Database, bookings: list[dict[str, Any]], holds: list[dict[str, Any]]
) -> None:
    """Insert booking and hold rows as they are, in one transaction, bypassing every rule."""
    async with database.write() as session:
        # SQLite's overlap triggers scan every hold of a booth per insert (quadratic in a bulk
        # load): set them aside while loading rows that are known not to overlap.
        triggers: Sequence[Any] = []
        if database.is_sqlite:
            triggers = (
                await session.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'booth_holds' "
                        "AND name LIKE 'booth_holds_no_overlap%'"
                    )
                )
            ).all()
            for name, _sql in triggers:
                await session.execute(text(f'DROP TRIGGER "{name}"'))
        for chunk in range(0, len(bookings), 2000):
            await session.execute(insert(BookingRow), bookings[chunk : chunk + 2000])
        for chunk in range(0, len(holds), 2000):
            await session.execute(insert(BoothHoldRow), holds[chunk : chunk + 2000])
        for _name, sql in triggers:
            await session.execute(text(sql))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


async def timed(coro_factory: Any, runs: int, before: Any = None) -> list[float]:
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        await coro_factory()
        out.append(time.perf_counter() - t0)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument(
        "--feed-index",
        action="store_true",
        help=f"add the covering index {FEED_INDEX!r} to the bench database first (not in the "
        "schema: shows what it would buy)",
    )
    args = parser.parse_args()
    polls = max(args.polls, 200)

    async with demo_app(args.database) as (client, url):
        t0 = time.perf_counter()
        ada_id = await seed(client, args.bookings)
        seeded = time.perf_counter() - t0
        if args.feed_index:
            async with client.app[DATABASE].write() as session:
                await session.execute(text(FEED_INDEX))
        token = (
            await (await client.post("/api/v1/tokens", json={"email": ADA, "password": PASSWORD})).json()
        )["token"]
        headers = {"Authorization": f"Bearer {token}"}
        feed = await (await client.post("/api/v1/feeds", headers=headers, json={"kind": "organizer"})).json()
        path = "/" + feed["https_url"].split("://", 1)[1].split("/", 1)[1]

        sizes: list[int] = []
        etags: set[str] = set()

        async def full() -> None:
            response = await client.get(path)
            assert response.status == 200, response.status
            sizes.append(len(await response.read()))
            etags.add(response.headers["ETag"])

        cold = await timed(full, args.runs, before=ical.clear_render_cache)
        warm = await timed(full, args.runs)
        assert len(etags) == 1, "the feed changed during the benchmark"
        etag = etags.pop()

        async def poll() -> None:
            response = await client.get(path, headers={"If-None-Match": etag})
            assert response.status == 304, response.status
            await response.release()

        await timed(poll, 20)  # warm-up: connection pool, statement caches
        not_modified = await timed(poll, polls)

        # The same 304 decision without HTTP: one query (token + account + feed_versions row).
        feeds = FeedRepository(client.app[DATABASE])
        store = client.app[STORE]
        token_hash = auth.secret_hash(feed["token"])
        subject = FeedSubject("organizer", ada_id)

        async def decide() -> None:
            assert await feeds.open_feed("organizer", token_hash) is not None

        decision = await timed(decide, polls)

        async def floor() -> None:
            async with client.app[DATABASE].read() as session:
                await session.execute(text("SELECT 1"))

        floors = await timed(floor, polls)
        catalog = await store.catalog()
        views: list[Any] = []

        async def load() -> None:
            views[:] = await feeds.views(subject, catalog, feed_day(NOW))

        loads = await timed(load, args.runs)

        def render() -> None:
            ical.feed_ics(
                views,
                name="Ada Lovelace: booth sessions",
                kind="organizer",
                now_for_retention=feed_day(NOW),
            )

        render_cold, render_warm = [], []
        for _ in range(args.runs):
            ical.clear_render_cache()
            t0 = time.perf_counter()
            render()
            render_cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            render()
            render_warm.append(time.perf_counter() - t0)

    med = statistics.median
    p90 = statistics.quantiles(not_modified, n=10)[-1]
    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    index = " + covering feed index" if args.feed_index else " (schema indexes only)"
    print(
        f"bench_feeds: {args.bookings} bookings in one organizer feed, {engine}{index}, "
        f"Python {platform.python_version()}, os.cpu_count() = {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  seeded rows in {seeded:.2f} s; feed {sizes[0] / 1e6:.2f} MB, {len(views)} events")
    print(f"  HTTP full answer, cold render  median {ms(med(cold))}  (min {ms(min(cold))}, {args.runs} runs)")
    print(f"  HTTP full answer, warm render  median {ms(med(warm))}  (min {ms(min(warm))}, {args.runs} runs)")
    print(
        f"  HTTP 304 (If-None-Match)       median {ms(med(not_modified))}  (p90 {ms(p90)}, {polls} requests)"
    )
    print(
        f"  ratio full/304: cold {med(cold) / med(not_modified):7.0f}x   warm {med(warm) / med(not_modified):7.0f}x"
    )
    print("  parts:")
    print(f"    304 decision without HTTP (token + feed version, one query)     median {ms(med(decision))}")
    print(f"    baseline: a read transaction running SELECT 1                   median {ms(med(floors))}")
    print(f"    load {len(views)} bookings (2 Core queries)                          median {ms(med(loads))}")
    print(
        f"    render, cold memo                                               median {ms(med(render_cold))}"
    )
    print(
        f"    render, warm memo                                               median {ms(med(render_warm))}"
    )

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(
        f"  goals: 304 median <= 2 ms: {verdict(med(not_modified) <= 0.002)}; >= 100x cheaper than a full "
        f"answer: cold {verdict(med(cold) >= 100 * med(not_modified))}, "
        f"warm {verdict(med(warm) >= 100 * med(not_modified))}"
    )


if __name__ == "__main__":
    asyncio.run(main())

"""Windowed booking queries over years of history: free/busy, feed loads, availability. Not a test.

    python bench/bench_windows.py [--years 3] [--runs 15] [--database URL]

One process: the real app (``create_app``) with demo data on a temporary SQLite database (or
``--database``, e.g. an empty PostgreSQL database, which is ANALYZEd after loading as autovacuum
would), and ``--years`` years of past bookings plus 90 days ahead, inserted directly as rows: both
demo booth pairs, one booking per pair every 2 hours from 08:00 to 20:00 UTC, an hour each.
Then, through the product's own code (no HTTP), the median of ``--runs`` calls (after one
warm-up) of:

* free/busy of one booth (``FeedRepository.busy``): 7 days from now, 92 days from now (the
  longest the endpoint allows), 7 days a year ago;
* the bookings of a booth feed, a venue feed and the organizer feed (``FeedRepository.views``,
  the feed window: 30 days back, a year ahead);
* availability of a booth pair over 7 days, 15-minute slots (``Store.availability``);
* the baseline in the same run: a read transaction running ``SELECT 1``;
* ``os.cpu_count()`` and the load average: these machines have 2 noisy cores.

Each line shows how many bookings the call found, so runs on two versions of the code can be
checked to have answered the same.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_feeds import ADA, BUFFER, NOW, PAIRS, demo_app, insert_rows  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from booth_server.keys import DATABASE, STORE  # noqa: E402
from scheduler.database import Database  # noqa: E402
from scheduler.feeds import FeedRepository, FeedSubject, feed_day  # noqa: E402
from scheduler.tables import AccountRow  # noqa: E402

AHEAD = timedelta(days=90)
FIRST_HOUR, LAST_HOUR = 8, 20


async def seed_history(database: Database, years: int) -> tuple[int, int]:
    """Bookings of Ada from ``years`` years ago to 90 days ahead; returns her id and how many."""
    async with database.read() as session:
        ada_id = await session.scalar(select(AccountRow.id).where(AccountRow.email == ADA))
    assert ada_id is not None
    bookings: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    start = (NOW - timedelta(days=365 * years)).replace(hour=FIRST_HOUR, minute=0)
    while start < NOW + AHEAD:
        end = start + timedelta(hours=1)
        for pair in PAIRS:
            booking_id = len(bookings) + 1
            bookings.append(
                {
                    "id": booking_id,
                    "uid": f"history-{booking_id:07d}@sebastian",
                    "title": "Pitch",
                    "organizer_id": ada_id,
                    "status": "confirmed",
                    "start_at": start,
                    "end_at": end,
                    "sequence": 0,
                    "guests": [],
                    "created_at": start - timedelta(days=7),
                    "updated_at": start - timedelta(days=7),
                }
            )
            holds += [
                {
                    "booking_id": booking_id,
                    "booth_id": booth_id,
                    "position": position,
                    "start_at": start,
                    "blocked_until": end + BUFFER,
                    "active": True,
                }
                for position, booth_id in enumerate(pair)
            ]
        start += timedelta(hours=2)
        if start.hour >= LAST_HOUR:
            start = start.replace(hour=FIRST_HOUR) + timedelta(days=1)
    await insert_rows(database, bookings, holds)
    if not database.is_sqlite:
        async with database.writer.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    return ada_id, len(bookings)


async def median_of(call: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls after one warm-up, and the warm-up's answer."""
    answer = await call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), answer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    async with demo_app(args.database) as (client, url):
        database = client.app[DATABASE]
        store = client.app[STORE]
        ada_id, stored = await seed_history(database, args.years)
        feeds = FeedRepository(database)
        catalog = await store.catalog()
        day = feed_day(NOW)
        booth, pair = PAIRS[0][0], list(PAIRS[0])
        week = date(2027, 3, 8)

        async def baseline() -> None:
            async with database.read() as session:
                await session.execute(text("SELECT 1"))

        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "free/busy of a booth, 7 days from now": lambda: feeds.busy(booth, NOW, NOW + timedelta(days=7)),
            "free/busy of a booth, 92 days from now": lambda: feeds.busy(
                booth, NOW, NOW + timedelta(days=92)
            ),
            "free/busy of a booth, 7 days a year ago": lambda: feeds.busy(
                booth, NOW - timedelta(days=365), NOW - timedelta(days=358)
            ),
            "booth feed bookings": lambda: feeds.views(FeedSubject("booth", booth), catalog, day),
            "venue feed bookings": lambda: feeds.views(FeedSubject("venue", 1), catalog, day),
            "organizer feed bookings": lambda: feeds.views(FeedSubject("organizer", ada_id), catalog, day),
            "availability of a pair, 7 days": lambda: store.availability(
                pair, week, week + timedelta(days=6), timedelta(minutes=15), NOW
            ),
        }
        floor, _ = await median_of(baseline, args.runs)
        results = {name: await median_of(call, args.runs) for name, call in cases.items()}

    engine = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    print(
        f"bench_windows: {stored} bookings over {args.years} years and 90 days ahead, {engine}, "
        f"Python {platform.python_version()}, os.cpu_count() = {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  baseline: a read transaction running SELECT 1     median {floor * 1000:7.2f} ms")
    for name, (seconds, answer) in results.items():
        found = len(answer[1]) if isinstance(answer, tuple) else len(answer)
        print(
            f"  {name:<44}  median {seconds * 1000:7.2f} ms  ({seconds / floor:5.1f}x baseline), "
            f"{found} {'slots' if isinstance(answer, tuple) else 'bookings'}"
        )


if __name__ == "__main__":
    asyncio.run(main())

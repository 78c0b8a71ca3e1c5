"""Scheduler benchmark: availability, booking throughput, settling 50 conflicting requests.

Prints figures for SQLite and (when reachable) PostgreSQL, each next to a baseline measured in
the same run on the same engine: a bare one-row insert transaction. Run:

    python bench/bench_scheduler.py [--postgres postgresql://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import text  # noqa: E402

from booth_server.app import create_app  # noqa: E402
from booth_server.cli import event_loop  # noqa: E402
from booth_server.clock import Clock  # noqa: E402
from booth_server.config import Config  # noqa: E402
from booth_server.demo import seed  # noqa: E402
from scheduler import zones  # noqa: E402
from scheduler.database import Database  # noqa: E402
from scheduler.errors import RuleViolation  # noqa: E402
from scheduler.model import Role  # noqa: E402
from scheduler.store import NewBooking, Store  # noqa: E402

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
RUNS = 15


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _baseline_insert(db: Database, n: int) -> float:
    """Seconds per bare one-row write transaction on this engine."""
    async with db.write() as session:
        await session.execute(
            text("CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, v TEXT)")
        )
    started = time.perf_counter()
    for i in range(n):
        async with db.write() as session:
            await session.execute(text("INSERT INTO bench_baseline (id, v) VALUES (:i, 'x')"), {"i": i + 1})
    return (time.perf_counter() - started) / n


async def bench_engine(label: str, url: str) -> None:
    db = Database(url)
    await db.migrate()
    store = Store(db)
    await seed(store, NOW)
    organizers = [
        await store.create_account(
            email=f"bench{i}@example.com",
            name=f"B{i}",
            company="",
            role=Role.ENTREPRENEUR,
            password_hash="unused",
            now=NOW,
        )
        for i in range(40)
    ]
    # Throughput: 160 bookings over eight weeks, none conflicting (one per organizer per week).
    specs: list[NewBooking] = []
    day = date(2027, 3, 8)
    while len(specs) < 160:
        if day.weekday() < 5:
            for hour in (17, 18):  # Paris wall time: inside both cities' hours in 8- and 9-hour weeks
                for paris, sf in ((1, 3), (2, 4)):
                    start = zones.to_utc(datetime(day.year, day.month, day.day, hour, 0), "Europe/Paris")
                    specs.append(NewBooking((paris, sf), start, start + timedelta(minutes=45), "bench"))
        day += timedelta(days=1)
    booked = 0
    started = time.perf_counter()
    for i, spec in enumerate(specs):
        try:
            await store.create_booking(spec, organizers[i % 40], NOW)
            booked += 1
        except RuleViolation as refused:  # a public holiday in one city, as it should be
            assert refused.code == "closure", refused
    per_booking = (time.perf_counter() - started) / len(specs)
    baseline = await _baseline_insert(db, 160)

    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        _, slots = await store.availability(
            [1, 3], date(2027, 3, 2), date(2027, 5, 30), timedelta(minutes=60), NOW
        )
        samples.append(time.perf_counter() - t0)
    await db.dispose()

    print(
        f"[{label}] availability, 2 booths x 90 days, {booked} bookings stored: "
        f"median {median_ms(samples):.1f} ms over {RUNS} runs ({len(slots)} slots; goal <= 20 ms)"
    )
    print(f"[{label}] booked {booked} of {len(specs)} requests (the rest fell on a public holiday)")
    print(
        f"[{label}] booking throughput, no conflicts, one at a time: {1 / per_booking:.0f} bookings/s "
        f"({per_booking * 1000:.2f} ms each); bare one-row insert transaction {baseline * 1000:.2f} ms "
        f"-> ratio {per_booking / baseline:.1f}x"
    )


async def settle_fifty(label: str, url: str) -> None:
    """50 overlapping requests through the HTTP API at once; time until all are answered."""
    timings: list[float] = []
    # One round a week, so that the organizer's weekly quota never decides instead of the conflict.
    for day in ("2027-03-08", "2027-03-16", "2027-03-23", "2027-03-30", "2027-04-06"):
        app = create_app(Config(database=url, demo=True), clock=Clock(NOW))
        client: TestClient = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            login = await client.post(
                "/api/v1/tokens",
                json={"email": "admin@demo.sebastian.example", "password": "sister-cities-demo"},
            )
            headers = {"Authorization": f"Bearer {(await login.json())['token']}"}
            body = {"booths": [1, 3], "start": f"{day}T16:00:00Z", "duration_minutes": 60, "title": "x"}
            t0 = time.perf_counter()
            responses = await asyncio.gather(
                *(client.post("/api/v1/bookings", headers=headers, json=body) for _ in range(50))
            )
            timings.append(time.perf_counter() - t0)
            statuses = Counter(r.status for r in responses)
            assert statuses == {201: 1, 409: 49}, (statuses, [await r.text() for r in responses[:3]])
        finally:
            await client.close()
    print(
        f"[{label}] 50 concurrent conflicting requests settled (1 x 201, 49 x 409): "
        f"median {median_ms(timings):.0f} ms over {len(timings)} rounds (goal <= 500 ms on SQLite)"
    )


async def _postgres_database(admin_url: str) -> tuple[str, str] | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(admin_url, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"[postgres] skipped: {exc}")
        return None
    name = f"sebastian_bench_{uuid.uuid4().hex[:8]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, f"{admin_url.rsplit('/', 1)[0]}/{name}"


async def _drop(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as folder:
        await bench_engine("sqlite", f"sqlite:///{folder}/bench.db")
        await settle_fifty("sqlite", f"sqlite:///{folder}/settle.db")
    for step in (bench_engine, settle_fifty):
        created = await _postgres_database(args.postgres)
        if created is None:
            break
        try:
            await step("postgres", created[1])
        finally:
            await _drop(args.postgres, created[0])


if __name__ == "__main__":
    loop = event_loop()
    print(f"event loop: {type(loop).__module__}.{type(loop).__name__}")
    loop.run_until_complete(main())

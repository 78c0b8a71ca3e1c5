"""Device-key lookups of booths connecting at once share one query, and see every revocation."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from scheduler.batching import Batched
from scheduler.database import Database
from scheduler.devices import SEEN_PRECISION, DeviceKeys
from scheduler.model import OpeningHours
from scheduler.store import Store

T0 = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)


def key_hash(n: int) -> str:
    return hashlib.sha256(f"dk_test_{n}".encode()).hexdigest()


async def booths_with_keys(url: str, count: int) -> tuple[Database, DeviceKeys, list[int]]:
    db = Database(url)
    await db.migrate()
    store = Store(db)
    venue = await store.create_venue(
        name="V",
        city="Paris",
        timezone="Europe/Paris",
        country="FR",
        subdivision=None,
        address="",
        opening_hours=OpeningHours({}),
    )
    keys = DeviceKeys(db)
    booths = []
    for n in range(count):
        booth = await store.create_booth(venue, f"B{n}")
        await keys.issue(booth, key_hash(n), None, T0)
        booths.append(booth)
    return db, keys, booths


def count_key_queries(db: Database) -> list[str]:
    """The SELECTs on device keys that reach the database (an engine event: nothing is changed)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "device_keys" in statement:
            seen.append(statement)

    event.listen(db.reader.sync_engine, "before_cursor_execute", before)
    return seen


async def test_booths_connecting_at_once_share_one_query(database_url: str) -> None:
    db, keys, booths = await booths_with_keys(database_url, 30)
    try:
        queries = count_key_queries(db)
        found = await asyncio.gather(*(keys.find(key_hash(n)) for n in range(30)), keys.find(key_hash(999)))
        assert [k.booth_id if k else None for k in found] == [*booths, None]
        assert len(queries) == 1, queries
        by_id = await asyncio.gather(*(keys.live(k.id) for k in found if k is not None))
        assert [k.booth_id for k in by_id if k is not None] == booths
        assert len(queries) == 2, queries
    finally:
        await db.dispose()


async def test_last_seen_of_booths_connecting_at_once_is_one_write(database_url: str) -> None:
    db, keys, booths = await booths_with_keys(database_url, 30)
    try:
        updates: list[str] = []

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE") and "device_keys" in statement:
                updates.append(statement)

        event.listen(db.writer.sync_engine, "before_cursor_execute", before)
        found = [k for k in await asyncio.gather(*(keys.find(key_hash(n)) for n in range(30))) if k]
        later = T0 + SEEN_PRECISION
        await asyncio.gather(*(keys.seen(k.id, T0 if k.booth_id % 2 else later) for k in found))
        assert len(updates) == 1, updates
        statuses = await keys.statuses(booths)
        assert [s.last_seen_at for s in statuses] == [later] * 30  # the batch's latest instant
        await keys.seen(found[0].id, later + SEEN_PRECISION / 2)  # within the precision: kept
        assert [s.last_seen_at for s in await keys.statuses(booths[:1])] == [later]
    finally:
        await db.dispose()


async def test_a_revoked_key_is_refused_at_the_next_lookup(database_url: str) -> None:
    db, keys, booths = await booths_with_keys(database_url, 2)
    try:
        first = await keys.find(key_hash(0))
        assert first is not None
        await keys.revoke(booths[0], T0)
        revoked, other = await asyncio.gather(keys.find(key_hash(0)), keys.find(key_hash(1)))
        assert revoked is None
        assert await keys.live(first.id) is None
        assert other is not None and other.booth_id == booths[1]
    finally:
        await db.dispose()


async def test_a_failed_batch_fails_each_caller_and_the_next_batch_runs() -> None:
    calls: list[list[int]] = []

    async def load(ids: Sequence[int]) -> dict[int, str]:
        calls.append(list(ids))
        if len(calls) == 1:
            raise ConnectionError("the database went away")
        return {i: f"v{i}" for i in ids}

    batched: Batched[int, str] = Batched(load)
    results = await asyncio.gather(*(batched.get(i) for i in (1, 2, 2)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert calls == [[1, 2]]
    assert await asyncio.gather(batched.get(3), batched.get(4)) == ["v3", "v4"]
    assert calls[1] == [3, 4]


async def test_a_caller_that_gives_up_does_not_cancel_the_others() -> None:
    release = asyncio.Event()

    async def load(ids: Sequence[int]) -> dict[int, int]:
        await release.wait()
        return {i: i * 10 for i in ids}

    batched: Batched[int, int] = Batched(load)
    leaving = asyncio.ensure_future(batched.get(1))
    staying = asyncio.ensure_future(batched.get(1))
    await asyncio.sleep(0.01)
    leaving.cancel()
    release.set()
    assert await staying == 10
    with pytest.raises(asyncio.CancelledError):
        await leaving

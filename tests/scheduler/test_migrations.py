"""The migrations build exactly the schema the ORM tables describe, on both engines, and re-run cleanly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import text

from booth_server.demo import seed
from scheduler.database import MIGRATIONS, Database
from scheduler.store import Store
from scheduler.tables import Base


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        await db.migrate()  # a second start finds nothing to do
        async with db.writer.connect() as conn:
            differences = await conn.run_sync(_differences)
        assert differences == []
    finally:
        await db.dispose()


async def test_nodes_starting_together_migrate_one_at_a_time(postgres_url: str) -> None:
    """Four nodes migrating one empty PostgreSQL database at once: one migrates, none fails."""
    import asyncio

    databases = [Database(postgres_url) for _ in range(4)]
    try:
        await asyncio.gather(*(db.migrate() for db in databases))
        async with databases[0].writer.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        for db in databases:
            await db.dispose()


def _upgrade_to(connection: Any, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def test_rows_outside_the_bounds_are_repaired_on_upgrade(database_url: str) -> None:
    """What older versions let in: a blackout in the year 1, a guest and a title with bad text."""
    db = Database(database_url)
    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(_upgrade_to, "0003")
        await seed(Store(db), datetime(2027, 3, 1, 12, tzinfo=UTC))
        async with db.writer.begin() as conn:
            year_one = "0001-01-01 00:00:00.000000" if db.is_sqlite else "0001-01-01 00:00:00+00"
            year_one_end = year_one.replace("-01 00", "-02 00")
            await conn.execute(
                text(
                    "INSERT INTO blackouts (venue_id, start_at, end_at, reason) VALUES "
                    f"(1, '{year_one}', '{year_one_end}', 'old'), "
                    "(1, '2027-04-01 00:00:00+00', '2027-04-02 00:00:00+00', 'kept')"
                    if not db.is_sqlite
                    else "INSERT INTO blackouts (venue_id, start_at, end_at, reason) VALUES "
                    f"(1, '{year_one}', '{year_one_end}', 'old'), "
                    "(1, '2027-04-01 00:00:00.000000', '2027-04-02 00:00:00.000000', 'kept')"
                )
            )
            account_id = (await conn.execute(text("SELECT min(id) FROM accounts"))).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO bookings (uid, organizer_id, title, status, start_at, end_at, sequence, "
                    "guests, created_at, updated_at) VALUES ('u1@test', :organizer, :title, 'confirmed', "
                    ":start, :end, 0, :guests, :start, :start)"
                ),
                {
                    "organizer": account_id,
                    "title": "Pi\x07tch",
                    "guests": '["bob\\ud800@example.org", "eve@example.org"]',
                    "start": datetime(2027, 3, 16, 16, tzinfo=UTC)
                    if not db.is_sqlite
                    else "2027-03-16 16:00:00.000000",
                    "end": datetime(2027, 3, 16, 17, tzinfo=UTC)
                    if not db.is_sqlite
                    else "2027-03-16 17:00:00.000000",
                },
            )
        await db.migrate()
        async with db.writer.connect() as conn:
            reasons = (await conn.execute(text("SELECT reason FROM blackouts ORDER BY id"))).scalars().all()
            title, guests = (await conn.execute(text("SELECT title, guests FROM bookings"))).one()
        assert reasons == ["kept"]
        assert title == "Pitch"
        assert (json.loads(guests) if isinstance(guests, str) else guests) == [
            "bob\ufffd@example.org",
            "eve@example.org",
        ]
    finally:
        await db.dispose()

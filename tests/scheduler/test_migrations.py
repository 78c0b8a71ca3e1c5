"""The migrations build exactly the schema the ORM tables describe, on both engines, and re-run cleanly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scheduler.database import Database
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

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

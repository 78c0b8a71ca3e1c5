"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .errors import InvalidInput

MIGRATIONS = Path(__file__).parent / "migrations"
# aiosqlite logs every statement with its parameters at DEBUG: the signalling room logs it
# stores hold SDP, which must never reach a log file, whatever level the server runs at.
logging.getLogger("aiosqlite").setLevel(logging.INFO)
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The advisory lock nodes take to migrate one by one ("sebastian" on a phone keypad).
MIGRATION_LOCK = 732_278_426


def normalize_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    try:
        parsed = make_url(url)
    except Exception:
        raise InvalidInput(f"database URL {url!r} is not a valid URL", field="database") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise InvalidInput("use a SQLite file, not an in-memory database", field="database")
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise InvalidInput(f"unsupported database {backend!r}: use sqlite:/// or postgresql://", field="database")


#: Execution option of Database.read_one's connections: no BEGIN/COMMIT around the statement.
_SINGLE_STATEMENT = "sebastian_single_statement"


def safe_url(url: str) -> str:
    """The database URL without its password, for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    """Let SQLAlchemy, not the driver, open transactions; writers take the lock up front.

    ``BEGIN IMMEDIATE`` makes a booking's read-check-insert one serialized unit: a second writer
    waits (busy timeout) instead of reading stale data or failing on lock upgrade. The overlap
    triggers guard the same invariant inside the database.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_SINGLE_STATEMENT):
            return  # SQLite runs a lone statement in its own implicit read transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _create_private(path: str | None) -> None:
    """Create the SQLite file readable by its owner only (SQLite gives its -wal and -shm files
    the same mode); left to SQLite it would follow the umask, usually world-readable."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise InvalidInput(
            f"cannot create the database file {path}: {exc.strerror}", field="database"
        ) from None


class Database:
    """A reader and a writer session factory over one database.

    On SQLite they are two engines on the same file (WAL: readers never wait for the writer);
    on PostgreSQL they are the same engine.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            _create_private(make_url(self.url).database)
            connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            self.writer = create_async_engine(self.url, echo=echo, connect_args=connect_args)
            self.reader = create_async_engine(self.url, echo=echo, connect_args=connect_args)
            _configure_sqlite(self.writer, immediate=True)
            _configure_sqlite(self.reader, immediate=False)
        else:
            self.writer = self.reader = create_async_engine(
                self.url, echo=echo, pool_size=10, max_overflow=20
            )
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read = async_sessionmaker(self.reader, expire_on_commit=False)
        # SQLite has one writer at a time. Queueing this process's writers here wakes the next one
        # as soon as the previous commits; left to the file lock they would poll with back-off
        # sleeps (measured: 50 racing bookings settled in 1.1 s that way).
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed on success, rolled back on any error."""
        if self._write_lock is None:
            async with self._write() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[AsyncConnection]:
        """A connection for ONE read statement, the cheapest read there is, for polling paths.

        The statement sees committed data as a whole, like any SQL statement; two statements on
        this connection may see different data, so use :meth:`read` for more than one.
        """
        async with self.reader.connect() as connection:
            if self.is_sqlite:
                # Saves the BEGIN and COMMIT round trips through aiosqlite's thread.
                connection = await connection.execution_options(**{_SINGLE_STATEMENT: True})
            yield connection

    async def migrate(self) -> None:
        """Bring the schema to the newest migration. Several nodes starting at once on one
        PostgreSQL database take turns (a transaction-level advisory lock): the first migrates,
        the others then find nothing to do."""
        async with self.writer.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            await conn.run_sync(_upgrade)

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def _upgrade(connection: Connection) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")

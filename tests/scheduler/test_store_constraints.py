"""The database itself refuses overlapping holds of a booth, on both engines, whatever the code does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from scheduler.database import Database, normalize_url
from scheduler.errors import InvalidInput
from scheduler.model import OpeningHours, Role
from scheduler.tables import AccountRow, BookingRow, BoothHoldRow

T0 = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)


async def _setup(url: str) -> tuple[Database, int, int]:
    from scheduler.store import Store

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
    booth = await store.create_booth(venue, "B")
    account = await store.create_account(
        email="a@b.c", name="A", company="", role=Role.ENTREPRENEUR, password_hash="x", now=T0
    )
    return db, booth, account.id


def _booking(
    uid: str, organizer: int, booth: int, start: datetime, minutes: int, buffer: int = 10, active: bool = True
) -> BookingRow:
    end = start + timedelta(minutes=minutes)
    return BookingRow(
        uid=uid,
        title="t",
        organizer_id=organizer,
        status="confirmed" if active else "cancelled",
        start_at=start,
        end_at=end,
        sequence=0,
        guests=[],
        created_at=T0,
        updated_at=T0,
        holds=[
            BoothHoldRow(
                booth_id=booth,
                position=0,
                start_at=start,
                blocked_until=end + timedelta(minutes=buffer),
                active=active,
            )
        ],
    )


@pytest.mark.parametrize(
    ("second_start_minutes", "active", "refused"),
    [
        (0, True, True),  # the same range
        (30, True, True),  # overlapping
        (65, True, True),  # inside the first one's 10-minute buffer
        (-65, True, True),  # ends 5 minutes before the first starts: its own buffer overlaps
        (70, True, False),  # exactly at the end of the buffer
        (0, False, False),  # a cancelled booking holds nothing
    ],
)
async def test_overlapping_hold_is_refused_by_the_database(
    database_url, second_start_minutes, active, refused
) -> None:
    db, booth, organizer = await _setup(database_url)
    try:
        async with db.write() as session:
            session.add(_booking("first", organizer, booth, T0, 60))
        second = _booking(
            "second", organizer, booth, T0 + timedelta(minutes=second_start_minutes), 60, active=active
        )
        if refused:
            with pytest.raises(IntegrityError, match="booth_holds_no_overlap"):
                async with db.write() as session:
                    session.add(second)
        else:
            async with db.write() as session:
                session.add(second)
        async with db.read() as session:
            count = (await session.execute(text("SELECT count(*) FROM bookings"))).scalar_one()
        assert count == (1 if refused else 2)  # nothing partial is left behind
    finally:
        await db.dispose()


async def test_reactivating_a_cancelled_hold_over_a_live_one_is_refused(database_url) -> None:
    db, booth, organizer = await _setup(database_url)
    try:
        async with db.write() as session:
            session.add(_booking("old", organizer, booth, T0, 60, active=False))
            session.add(_booking("new", organizer, booth, T0, 60))
        with pytest.raises(IntegrityError, match="booth_holds_no_overlap"):
            async with db.write() as session:
                await session.execute(text("UPDATE booth_holds SET active = true"))
    finally:
        await db.dispose()


async def test_account_emails_are_unique_in_the_database(database_url) -> None:
    db, _booth, _organizer = await _setup(database_url)
    try:
        with pytest.raises(IntegrityError):
            async with db.write() as session:
                session.add(
                    AccountRow(
                        email="a@b.c", name="B", company="", role="admin", password_hash="x", created_at=T0
                    )
                )
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
    ],
)
def test_database_urls_pick_async_drivers(url, expected) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite://", "not a url", "sqlite:///:memory:"])
def test_unusable_database_urls_are_named(url) -> None:
    with pytest.raises(InvalidInput) as error:
        normalize_url(url)
    assert error.value.field == "database"

"""Calendar feeds: their tokens, their versions and the bookings each feed shows.

A feed is an organizer's own bookings, a venue's bookings (for its staff) or one booth's
(public, busy-only). The first two are reached by a secret token in the URL, of which only the
SHA-256 is stored (:class:`FeedTokenRow`); the caller makes the secret and its hash.

**Versions.** The database keeps one row per feed subject in ``feed_versions``
(:class:`FeedVersionRow`): triggers (migration 0003) raise ``version`` and move ``changed_at`` in
the transaction of every write to a booking, a hold or an account name that the feed shows. A
conditional GET reads that row (with the token, in one query: :meth:`FeedRepository.open_feed`),
never the feed's bookings, so a ``304`` costs the same for 10 or 10,000 bookings.

**The day.** What a feed shows is a function of the bookings and of the current UTC day, not of
the instant: the window and the retention of cancelled bookings are counted from the start of
the day (:func:`feed_day`), so the passage of time can change a feed only at midnight UTC. The
server puts the day into the ETag and takes it as a lower bound of Last-Modified
(:func:`last_change`).

The feed window: bookings ending after ``day - WINDOW_PAST`` and starting before
``day + WINDOW_AHEAD``; a cancelled booking stays while its last change is at most
:data:`scheduler.ical.CANCELLED_RETENTION` before ``day`` (the rule of ``ical.feed_views``, given
``now_for_retention=day``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import DateTime, Select, String, and_, func, or_, select, type_coerce, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from .database import Database
from .errors import InvalidInput, NotFound
from .ical import CANCELLED_RETENTION
from .model import Account, BookingStatus, BookingView, Booth, Role
from .tables import AccountRow, BookingRow, BoothHoldRow, BoothRow, FeedTokenRow, FeedVersionRow, overlapping

WINDOW_PAST = timedelta(days=30)
WINDOW_AHEAD = timedelta(days=365)
MAX_FEEDS_PER_ACCOUNT = 20
#: How often a full load retries when a write lands between its reads (PostgreSQL only).
_LOAD_ATTEMPTS = 3

TOKEN_KINDS: tuple[str, ...] = ("organizer", "venue")
SubjectKind = Literal["organizer", "venue", "booth"]


@dataclass(frozen=True)
class FeedToken:
    """A feed as its owner sees it (never the secret: only its hash is stored)."""

    id: int
    kind: str
    subject_id: int
    created_by: int
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class FeedSubject:
    """Whose bookings a feed shows: an organizer (account id), a venue or a booth (ids)."""

    kind: SubjectKind
    subject_id: int


@dataclass(frozen=True)
class FeedVersion:
    """The feed's row of ``feed_versions``: ``version`` 0 and no ``changed_at`` when no booking
    of the subject was ever written (the feed has always been empty)."""

    version: int
    changed_at: datetime | None

    @property
    def ever_changed(self) -> bool:
        return self.version > 0

    def key(self, day: datetime) -> tuple[object, ...]:
        """What the ETag takes from the version: the number, and the day the feed was computed
        for (a feed that never had a booking does not depend on the day)."""
        return (self.version, day.date().isoformat()) if self.ever_changed else (0,)


NO_VERSION = FeedVersion(0, None)


def feed_day(now: datetime) -> datetime:
    """The start of ``now``'s UTC day: feeds are computed for a day, not an instant."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def window(day: datetime) -> tuple[datetime, datetime]:
    """The feed window ``(lo, hi)`` of a day: bookings ending after lo and starting before hi."""
    return day - WINDOW_PAST, day + WINDOW_AHEAD


def last_change(version: FeedVersion, day: datetime) -> datetime | None:
    """The latest instant at which the feed may have changed, for Last-Modified.

    The last write it shows (``changed_at``), and the start of the day: at midnight UTC bookings
    may have left the window or their retention, or entered the window. Whether one did is not
    looked up (it would mean reading the feed's bookings), so a client polling with only
    If-Modified-Since fetches every feed once a day. None for a feed never written.
    """
    if version.changed_at is None:
        return None
    return max(version.changed_at, day)


def _token(row: Any) -> FeedToken:
    return FeedToken(row.id, row.kind, row.subject_id, row.created_by, row.created_at, row.revoked_at)


def _account(row: AccountRow) -> Account:
    return Account(row.id, row.email, row.name, row.company, Role(row.role), row.venue_id)


def _guests(raw: str | list[str] | None) -> tuple[str, ...]:
    if raw is None or raw == "[]":
        return ()
    return tuple(raw if isinstance(raw, list) else json.loads(raw))


def _of_subject(subject: FeedSubject) -> ColumnElement[bool]:
    if subject.kind == "organizer":
        return BookingRow.organizer_id == subject.subject_id
    if subject.kind == "venue":
        held = (
            select(BoothHoldRow.booking_id)
            .join(BoothRow, BoothRow.id == BoothHoldRow.booth_id)
            .where(BoothRow.venue_id == subject.subject_id)
        )
    else:
        held = select(BoothHoldRow.booking_id).where(BoothHoldRow.booth_id == subject.subject_id)
    return BookingRow.id.in_(held)


def _retained(day: datetime) -> ColumnElement[bool]:
    return or_(
        BookingRow.status != BookingStatus.CANCELLED.value,
        BookingRow.updated_at >= day - CANCELLED_RETENTION,
    )


def _shown(day: datetime) -> ColumnElement[bool]:
    lo, hi = window(day)
    return and_(overlapping(lo, hi), _retained(day))


def _version_query(kind: str, subject_id: int) -> Select[int, datetime]:
    return select(FeedVersionRow.version, FeedVersionRow.changed_at).where(
        FeedVersionRow.kind == kind, FeedVersionRow.subject_id == subject_id
    )


def _version_of(row: Any) -> FeedVersion:
    return NO_VERSION if row is None else FeedVersion(int(row[0]), row[1])


class FeedRepository:
    """Feed tokens (hashes only) and the bookings of feeds."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- tokens ------------------------------------------------------------------------------

    async def create(
        self, kind: str, subject_id: int, created_by: int, token_hash: str, now: datetime
    ) -> FeedToken:
        if kind not in TOKEN_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(TOKEN_KINDS)}", field="kind")
        async with self.db.write() as session:
            live = await session.scalar(
                select(func.count(FeedTokenRow.id)).where(
                    FeedTokenRow.created_by == created_by, FeedTokenRow.revoked_at.is_(None)
                )
            )
            if (live or 0) >= MAX_FEEDS_PER_ACCOUNT:
                raise InvalidInput(
                    f"an account may hold at most {MAX_FEEDS_PER_ACCOUNT} feeds; revoke one first",
                    field="kind",
                    code="too_many_feeds",
                )
            row = FeedTokenRow(
                kind=kind, subject_id=subject_id, created_by=created_by, token_hash=token_hash, created_at=now
            )
            session.add(row)
            await session.flush()
            return _token(row)

    async def list_for(self, account_id: int) -> list[FeedToken]:
        """The account's live feeds, oldest first."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(FeedTokenRow)
                .where(FeedTokenRow.created_by == account_id, FeedTokenRow.revoked_at.is_(None))
                .order_by(FeedTokenRow.id)
            )
            return [_token(row) for row in rows]

    @staticmethod
    async def _update_live(session: AsyncSession, feed_id: int, account_id: int, **values: Any) -> None:
        """Change one of the account's live feeds; any other id is a 404, never a hint."""
        result = await session.execute(
            update(FeedTokenRow)
            .where(
                FeedTokenRow.id == feed_id,
                FeedTokenRow.created_by == account_id,
                FeedTokenRow.revoked_at.is_(None),
            )
            .values(**values)
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            raise NotFound(f"there is no feed with id {feed_id}", field="id")

    async def rotate(self, feed_id: int, account_id: int, token_hash: str) -> FeedToken:
        """Replace the feed's secret: from the commit on, the old URL finds nothing."""
        async with self.db.write() as session:
            await self._update_live(session, feed_id, account_id, token_hash=token_hash)
            return _token(await session.get_one(FeedTokenRow, feed_id))

    async def revoke(self, feed_id: int, account_id: int, now: datetime) -> None:
        async with self.db.write() as session:
            await self._update_live(session, feed_id, account_id, revoked_at=now)

    async def resolve(self, kind: str, token_hash: str) -> tuple[FeedToken, Account] | None:
        """The live feed with this token hash, and the account that created it."""
        found = await self.open_feed(kind, token_hash)
        return None if found is None else found[:2]

    async def open_feed(self, kind: str, token_hash: str) -> tuple[FeedToken, Account, FeedVersion] | None:
        """The live feed with this token hash, the account that created it and the feed's
        version: what a poll needs, in one query (token by its unique hash, account and version
        by primary key). Core rows, not ORM objects: this runs on every poll."""
        query = (
            select(
                FeedTokenRow.id,
                FeedTokenRow.kind,
                FeedTokenRow.subject_id,
                FeedTokenRow.created_by,
                FeedTokenRow.created_at,
                FeedTokenRow.revoked_at,
                AccountRow.email,
                AccountRow.name,
                AccountRow.company,
                AccountRow.role,
                AccountRow.venue_id,
                FeedVersionRow.version,
                FeedVersionRow.changed_at,
            )
            .join(AccountRow, AccountRow.id == FeedTokenRow.created_by)
            # Token kinds are feed kinds: an organizer token's subject is the account, a venue
            # token's the venue.
            .outerjoin(
                FeedVersionRow,
                and_(
                    FeedVersionRow.kind == FeedTokenRow.kind,
                    FeedVersionRow.subject_id == FeedTokenRow.subject_id,
                ),
            )
            .where(
                FeedTokenRow.token_hash == token_hash,
                FeedTokenRow.kind == kind,
                FeedTokenRow.revoked_at.is_(None),
            )
        )
        async with self.db.read_one() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        owner = Account(row.created_by, row.email, row.name, row.company, Role(row.role), row.venue_id)
        version = NO_VERSION if row.version is None else FeedVersion(int(row.version), row.changed_at)
        return _token(row), owner, version

    # -- bookings of a feed ------------------------------------------------------------------

    async def version(self, subject: FeedSubject) -> FeedVersion:
        """The feed's version (one primary-key read): what a poll compares."""
        async with self.db.read_one() as connection:
            return _version_of(
                (await connection.execute(_version_query(subject.kind, subject.subject_id))).first()
            )

    async def views(
        self, subject: FeedSubject, catalog: dict[int, Booth], day: datetime
    ) -> list[BookingView]:
        """The bookings the feed shows on ``day`` (see :func:`feed_day`), in feed order."""
        return (await self.load(subject, catalog, day))[0]

    async def load(
        self, subject: FeedSubject, catalog: dict[int, Booth], day: datetime
    ) -> tuple[list[BookingView], FeedVersion | None]:
        """The bookings the feed shows on ``day``, in feed order (start, then UID), and the
        version they are: the ETag of a full answer must describe the bytes sent.

        The version is read before and after the bookings, in one read transaction. On SQLite
        that transaction is a snapshot; on PostgreSQL (read committed) each statement sees the
        latest commits, and since every write that changes the feed raises its version in the
        same commit, equal versions mean nothing changed between. When a write keeps landing in
        between, the bookings come back with no version (the answer goes out without ETag).
        """
        version_query = _version_query(subject.kind, subject.subject_id)
        for _attempt in range(_LOAD_ATTEMPTS):
            async with self.db.read() as session:
                connection = await session.connection()
                before = _version_of((await connection.execute(version_query)).first())
                views = await self._load_views(connection, subject, catalog, day)
                after = _version_of((await connection.execute(version_query)).first())
            if before == after:
                return views, after
        return views, None

    async def _load_views(
        self, connection: AsyncConnection, subject: FeedSubject, catalog: dict[int, Booth], day: datetime
    ) -> list[BookingView]:
        """Two Core queries (bookings with their organizer, then their booths), without ORM
        objects or per-value type processing: a 10,000-booking feed is loaded several times
        faster that way. SQLite gives its datetimes as text, read with ``fromisoformat``;
        asyncpg gives aware UTC datetimes already."""
        condition = and_(_of_subject(subject), _shown(day))
        sqlite = self.db.is_sqlite
        raw_time = String() if sqlite else DateTime(timezone=True)
        bookings = (
            select(
                BookingRow.id,
                BookingRow.uid,
                BookingRow.title,
                BookingRow.status,
                type_coerce(BookingRow.start_at, raw_time),
                type_coerce(BookingRow.end_at, raw_time),
                BookingRow.sequence,
                type_coerce(BookingRow.created_at, raw_time),
                type_coerce(BookingRow.updated_at, raw_time),
                # Raw JSON text (most lists are empty: no need to decode "[]").
                type_coerce(BookingRow.guests, String),
                BookingRow.organizer_id,
                BookingRow.override_reason,
                AccountRow.name,
                AccountRow.email,
                AccountRow.company,
            )
            .join(AccountRow, AccountRow.id == BookingRow.organizer_id)
            .where(condition)
            .order_by(BookingRow.start_at, BookingRow.uid)
        )
        holds = (
            select(BoothHoldRow.booking_id, BoothHoldRow.booth_id)
            .join(BookingRow, BookingRow.id == BoothHoldRow.booking_id)
            .where(condition)
            .order_by(BoothHoldRow.booking_id, BoothHoldRow.position)
        )
        booking_rows = (await connection.execute(bookings)).all()
        hold_rows = (await connection.execute(holds)).all()
        booths_of: defaultdict[int, list[Booth]] = defaultdict(list)
        for booking_id, booth_id in hold_rows:
            booth = catalog.get(booth_id)
            if booth is not None:
                booths_of[booking_id].append(booth)
        statuses = {s.value: s for s in BookingStatus}
        if sqlite:
            # Many bookings share instants (creation batches, slot grid): parse each text once.
            parsed: dict[str, datetime] = {}

            def instant(raw: Any) -> datetime:
                value = parsed.get(raw)
                if value is None:
                    value = parsed[raw] = datetime.fromisoformat(raw).replace(tzinfo=UTC)
                return value
        else:

            def instant(raw: Any) -> datetime:
                return cast(datetime, raw)

        # Guest lists repeat too (most are empty): decode each JSON text once.
        guest_lists: dict[str, tuple[str, ...]] = {"[]": ()}

        def guests(raw: str | list[str]) -> tuple[str, ...]:
            if not isinstance(raw, str):  # decoded already (a PostgreSQL JSON column)
                return tuple(raw)
            value = guest_lists.get(raw)
            if value is None:
                value = guest_lists[raw] = _guests(raw)
            return value

        return [
            BookingView(
                id=r[0],
                uid=r[1],
                title=r[2],
                status=statuses[r[3]],
                start=instant(r[4]),
                end=instant(r[5]),
                sequence=r[6],
                created_at=instant(r[7]),
                updated_at=instant(r[8]),
                guests=guests(r[9]),
                organizer_id=r[10],
                override_reason=r[11],
                organizer_name=r[12],
                organizer_email=r[13],
                organizer_company=r[14],
                booths=tuple(booths_of[r[0]]),
            )
            for r in booking_rows
        ]

    async def busy(self, booth_id: int, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Confirmed bookings holding the booth that overlap ``[start, end)``, as UTC ranges."""
        query = (
            select(BookingRow.start_at, BookingRow.end_at)
            .join(BoothHoldRow, BoothHoldRow.booking_id == BookingRow.id)
            .where(BoothHoldRow.booth_id == booth_id, BoothHoldRow.active)
            .where(BookingRow.status == BookingStatus.CONFIRMED.value)
            .where(overlapping(start, end))
            .order_by(BookingRow.start_at)
        )
        async with self.db.read() as session:
            return [(s, e) for s, e in await session.execute(query)]

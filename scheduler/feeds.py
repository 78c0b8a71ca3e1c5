"""Calendar feeds: their tokens and the bookings each feed shows.

A feed is an organizer's own bookings, a venue's bookings (for its staff) or one booth's
(public, busy-only). The first two are reached by a secret token in the URL, of which only the
SHA-256 is stored (:class:`FeedTokenRow`); the caller makes the secret and its hash.

What a feed shows is one predicate (:func:`_shown`), used both by :meth:`FeedRepository.views`,
which loads the bookings to render, and by :meth:`FeedRepository.version`, one aggregate query
that answers "has this feed changed?" without loading or rendering anything: that is what makes
a conditional GET (``304 Not Modified``) cheap. Both must agree, so both are built here.

The feed window: bookings ending after ``now - WINDOW_PAST`` and starting before
``now + WINDOW_AHEAD``; a cancelled booking stays for :data:`scheduler.ical.CANCELLED_RETENTION`
after its last change (the same rule as ``ical.feed_views``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import String, and_, case, func, not_, or_, select, type_coerce, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from .database import Database
from .errors import InvalidInput, NotFound
from .ical import CANCELLED_RETENTION
from .model import Account, BookingStatus, BookingView, Booth, Role
from .tables import AccountRow, BookingRow, BoothHoldRow, BoothRow, FeedTokenRow

WINDOW_PAST = timedelta(days=30)
WINDOW_AHEAD = timedelta(days=365)
#: Longest booking the API accepts (24 h): bounds the start_at index scan of a window.
LONGEST_BOOKING = timedelta(days=1)
MAX_FEEDS_PER_ACCOUNT = 20

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
    """What a conditional GET compares, from one aggregate query.

    ``count``, ``id_sum`` and ``latest_update`` describe the bookings shown: any change to one of
    them raises ``latest_update`` (every write sets ``updated_at`` to now), and a booking entering
    or leaving the feed changes ``count`` or ``id_sum``.
    """

    count: int
    id_sum: int
    latest_update: datetime | None

    def key(self) -> tuple[object, ...]:
        latest = None if self.latest_update is None else self.latest_update.isoformat()
        return (self.count, self.id_sum, latest)


def version_of(views: list[BookingView]) -> FeedVersion:
    """The version fields of bookings already loaded (the same ones :meth:`FeedRepository.version`
    would count), so that the ETag of a full answer describes exactly the bytes sent."""
    return FeedVersion(len(views), sum(v.id for v in views), max((v.updated_at for v in views), default=None))


def window(now: datetime) -> tuple[datetime, datetime]:
    """The feed window ``(lo, hi)``: bookings ending after lo and starting before hi."""
    return now - WINDOW_PAST, now + WINDOW_AHEAD


def _token(row: FeedTokenRow) -> FeedToken:
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


def _in_window(lo: datetime, hi: datetime) -> ColumnElement[bool]:
    # The start_at bound lets the database use the start_at index.
    return and_(BookingRow.end_at > lo, BookingRow.start_at < hi, BookingRow.start_at > lo - LONGEST_BOOKING)


def _retained(now: datetime) -> ColumnElement[bool]:
    return or_(
        BookingRow.status != BookingStatus.CANCELLED.value,
        BookingRow.updated_at >= now - CANCELLED_RETENTION,
    )


def _shown(lo: datetime, hi: datetime, now: datetime) -> ColumnElement[bool]:
    return and_(_in_window(lo, hi), _retained(now))


class FeedRepository:
    """Feed tokens (hashes only) and the bookings of feeds."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- tokens ------------------------------------------------------------------------------

    async def create(self, kind: str, subject_id: int, created_by: int, token_hash: str,
                     now: datetime) -> FeedToken:
        if kind not in TOKEN_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(TOKEN_KINDS)}", field="kind")
        async with self.db.write() as session:
            live = await session.scalar(
                select(func.count(FeedTokenRow.id))
                .where(FeedTokenRow.created_by == created_by, FeedTokenRow.revoked_at.is_(None))
            )
            if (live or 0) >= MAX_FEEDS_PER_ACCOUNT:
                raise InvalidInput(f"an account may hold at most {MAX_FEEDS_PER_ACCOUNT} feeds; "
                                   "revoke one first", field="kind", code="too_many_feeds")
            row = FeedTokenRow(kind=kind, subject_id=subject_id, created_by=created_by,
                               token_hash=token_hash, created_at=now)
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

    async def rotate(self, feed_id: int, account_id: int, token_hash: str) -> FeedToken:
        """Replace the feed's secret: from the commit on, the old URL finds nothing."""
        async with self.db.write() as session:
            result = await session.execute(
                update(FeedTokenRow)
                .where(FeedTokenRow.id == feed_id, FeedTokenRow.created_by == account_id,
                       FeedTokenRow.revoked_at.is_(None))
                .values(token_hash=token_hash)
            )
            if cast(CursorResult[Any], result).rowcount != 1:
                raise NotFound(f"there is no feed with id {feed_id}", field="id")
            row = await session.get_one(FeedTokenRow, feed_id)
            return _token(row)

    async def revoke(self, feed_id: int, account_id: int, now: datetime) -> None:
        async with self.db.write() as session:
            result = await session.execute(
                update(FeedTokenRow)
                .where(FeedTokenRow.id == feed_id, FeedTokenRow.created_by == account_id,
                       FeedTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if cast(CursorResult[Any], result).rowcount != 1:
                raise NotFound(f"there is no feed with id {feed_id}", field="id")

    async def resolve(self, kind: str, token_hash: str) -> tuple[FeedToken, Account] | None:
        """The live feed with this token hash, and the account that created it."""
        async with self.db.read() as session:
            return await self._resolve(session, kind, token_hash)

    @staticmethod
    async def _resolve(session: AsyncSession, kind: str, token_hash: str) -> tuple[FeedToken, Account] | None:
        found = (await session.execute(
            select(FeedTokenRow, AccountRow)
            .join(AccountRow, AccountRow.id == FeedTokenRow.created_by)
            .where(FeedTokenRow.token_hash == token_hash, FeedTokenRow.kind == kind,
                   FeedTokenRow.revoked_at.is_(None))
        )).first()
        return (_token(found[0]), _account(found[1])) if found else None

    async def open_feed(self, kind: str, token_hash: str,
                        now: datetime) -> tuple[FeedToken, Account, FeedVersion] | None:
        """:meth:`resolve` and :meth:`version` in one read transaction (what a poll needs)."""
        async with self.db.read() as session:
            found = await self._resolve(session, kind, token_hash)
            if found is None:
                return None
            feed, owner = found
            subject = FeedSubject("organizer" if kind == "organizer" else "venue", feed.subject_id)
            return feed, owner, await self._version(session, subject, now)

    # -- bookings of a feed ------------------------------------------------------------------

    async def version(self, subject: FeedSubject, now: datetime) -> FeedVersion:
        """(count, id sum, latest update) of what the feed shows, in one aggregate query: no
        booking is loaded. What an If-None-Match poll needs; Last-Modified is :meth:`last_change`."""
        async with self.db.read() as session:
            return await self._version(session, subject, now)

    @staticmethod
    async def _version(session: AsyncSession, subject: FeedSubject, now: datetime) -> FeedVersion:
        lo, hi = window(now)
        query = (
            select(func.count(), func.coalesce(func.sum(BookingRow.id), 0), func.max(BookingRow.updated_at))
            .where(_of_subject(subject), _shown(lo, hi, now))
        )
        count, id_sum, latest = (await session.execute(query)).one()
        return FeedVersion(int(count or 0), int(id_sum or 0), latest)

    async def last_change(self, subject: FeedSubject, now: datetime, version: FeedVersion) -> datetime | None:
        """The latest instant at which the feed changed, for Last-Modified (one more aggregate).

        Besides the latest update of what is shown: when the latest booking to leave the feed
        left it (its end went out of the window, or its cancellation out of retention), when the
        latest one to enter the window by the passage of time entered it and, for venue and
        booth feeds, the latest booking change in the window at all (a booking moved to other
        booths leaves such a feed without a trace in what is left of it). Every one is <= now.
        """
        lo, hi = window(now)
        left_window = BookingRow.end_at <= lo
        left_retention = and_(BookingRow.end_at > lo, not_(_retained(now)))
        columns: list[Any] = [
            func.max(case((left_window, BookingRow.end_at))),
            func.max(case((left_retention, BookingRow.updated_at))),
            func.max(BookingRow.start_at),
        ]
        if subject.kind != "organizer":
            columns.append(
                select(func.max(BookingRow.updated_at)).where(_in_window(lo, hi)).scalar_subquery()
            )
        query = select(*columns).where(_of_subject(subject), BookingRow.start_at < hi)
        async with self.db.read() as session:
            row = (await session.execute(query)).one()
        changes = [
            None if row[0] is None else row[0] + WINDOW_PAST,
            None if row[1] is None else row[1] + CANCELLED_RETENTION,
            None if row[2] is None else row[2] - WINDOW_AHEAD,
            row[3] if len(row) > 3 else None,
        ]
        known = [c for c in changes if c is not None and c <= now]
        if version.latest_update is not None:
            known.append(version.latest_update)
        return max(known, default=None)

    async def views(self, subject: FeedSubject, catalog: dict[int, Booth], now: datetime) -> list[BookingView]:
        """The bookings the feed shows, in feed order (start, then UID).

        Read with two Core queries (bookings with their organizer, then their booths) rather
        than ORM objects: a 10,000-booking feed is loaded several times faster that way.
        """
        lo, hi = window(now)
        condition = and_(_of_subject(subject), _shown(lo, hi, now))
        bookings = (
            select(
                BookingRow.id, BookingRow.uid, BookingRow.title, BookingRow.status, BookingRow.start_at,
                BookingRow.end_at, BookingRow.sequence, BookingRow.created_at, BookingRow.updated_at,
                # Raw JSON text on SQLite (most lists are empty: no need to decode "[]").
                type_coerce(BookingRow.guests, String), BookingRow.organizer_id, BookingRow.override_reason,
                AccountRow.name, AccountRow.email, AccountRow.company,
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
        async with self.db.read() as session:
            # On the Connection, not the Session: plain Core rows, without the ORM's row loading.
            connection = await session.connection()
            booking_rows = (await connection.execute(bookings)).all()
            hold_rows = (await connection.execute(holds)).all()
        booths_of: defaultdict[int, list[Booth]] = defaultdict(list)
        for booking_id, booth_id in hold_rows:
            booth = catalog.get(booth_id)
            if booth is not None:
                booths_of[booking_id].append(booth)
        statuses = {s.value: s for s in BookingStatus}
        return [
            BookingView(
                id=r[0], uid=r[1], title=r[2], status=statuses[r[3]], start=r[4], end=r[5],
                sequence=r[6], created_at=r[7], updated_at=r[8], guests=_guests(r[9]),
                organizer_id=r[10], override_reason=r[11], organizer_name=r[12],
                organizer_email=r[13], organizer_company=r[14], booths=tuple(booths_of[r[0]]),
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
            .where(BookingRow.end_at > start, BookingRow.start_at < end,
                   BookingRow.start_at > start - LONGEST_BOOKING)
            .order_by(BookingRow.start_at)
        )
        async with self.db.read() as session:
            return [(s, e) for s, e in await session.execute(query)]

"""The repository: rows in, domain values out, and every booking change in one transaction.

A booking is checked by the pure rules inside the same write transaction that stores it. The
database then enforces the invariant a second time (exclusion constraint or triggers), so two
requests racing past the check still cannot both hold a booth.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from . import bounds, policy, rules
from .changes import BookingChanged, TransactionalHandler, classify
from .database import Database
from .errors import (
    AlreadyExists,
    BookingConflict,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    SchedulerError,
)
from .model import (
    Account,
    Blackout,
    BookingRequest,
    BookingStatus,
    BookingView,
    Booth,
    Busy,
    OpeningHours,
    Role,
    Rules,
    Slot,
    TimeRange,
    Venue,
)
from .tables import (
    AccessTokenRow,
    AccountRow,
    BlackoutRow,
    BookingRow,
    BoothHoldRow,
    BoothRow,
    VenueRow,
    overlapping,
)

#: How far around a requested range busy holds are loaded: more than any turnover buffer.
_BUSY_MARGIN = timedelta(days=1)
_QUOTA_MARGIN = timedelta(days=8)


class EmailTaken(AlreadyExists):
    code = "email_taken"


class BookingStateError(SchedulerError):
    """The booking cannot change in its present state (cancelled, ended): HTTP 409."""

    code = "booking_state"


@dataclass(frozen=True)
class NewBooking:
    booth_ids: tuple[int, ...]
    start: datetime
    end: datetime
    title: str
    guests: tuple[str, ...] = ()
    idempotency_key: str | None = None
    override_reason: str | None = None

    def __post_init__(self) -> None:
        _check_values(self.start, self.end, self.title, self.guests, self.override_reason)
        if self.idempotency_key is not None:
            bounds.check_text(self.idempotency_key, "Idempotency-Key")

    def fingerprint(self) -> str:
        """Identifies the request, to tell an idempotent retry from a reused key."""
        body = [
            list(self.booth_ids),
            self.start.isoformat(),
            self.end.isoformat(),
            self.title,
            list(self.guests),
        ]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()


@dataclass(frozen=True)
class BookingChange:
    """A reschedule or an edit; fields left None stay as they are."""

    start: datetime | None = None
    end: datetime | None = None
    booth_ids: tuple[int, ...] | None = None
    title: str | None = None
    guests: tuple[str, ...] | None = None
    override_reason: str | None = None

    def __post_init__(self) -> None:
        _check_values(self.start, self.end, self.title, self.guests, self.override_reason)


def _check_values(
    start: datetime | None,
    end: datetime | None,
    title: str | None,
    guests: tuple[str, ...] | None,
    override_reason: str | None,
) -> None:
    """The store's own guard, whatever the caller checked: nothing it writes can break a read."""
    for name, instant in (("start", start), ("end", end)):
        if instant is not None:
            bounds.check_instant(instant, name)
    for name, value in (("title", title), ("override_reason", override_reason)):
        if value is not None:
            bounds.check_text(value, name)
    for guest in guests or ():
        bounds.check_text(guest, "guests")


def _venue(row: VenueRow, default_rules: Rules) -> Venue:
    return Venue(
        id=row.id,
        name=row.name,
        city=row.city,
        timezone=row.timezone,
        country=row.country,
        subdivision=row.subdivision,
        address=row.address,
        opening_hours=OpeningHours.from_json(row.opening_hours),
        blackouts=tuple(Blackout(b.start_at, b.end_at, b.reason) for b in row.blackouts),
        rules=replace(default_rules, **row.rules),
    )


def _account(row: AccountRow) -> Account:
    return Account(row.id, row.email, row.name, row.company, Role(row.role), row.venue_id)


class Store:
    #: Seconds a node may use its copy of venues and booths; its own changes apply at once, another
    #: node's (several nodes on PostgreSQL) within this delay.
    CATALOG_TTL = 5.0

    def __init__(self, db: Database, default_rules: Rules | None = None) -> None:
        self.db = db
        self.default_rules = default_rules or Rules()
        self._catalog_cache: tuple[float, dict[int, Booth]] | None = None
        self._in_transaction: list[TransactionalHandler] = []

    def on_change_in_transaction(self, handler: TransactionalHandler) -> None:
        """Await ``handler(session, event)`` inside every booking change's transaction, after its
        rows are flushed: what it writes commits or rolls back with the change."""
        self._in_transaction.append(handler)

    async def _changed(
        self,
        session: AsyncSession,
        before: BookingView | None,
        after: BookingView,
        actor: Account,
        now: datetime,
    ) -> BookingChanged:
        event = BookingChanged(classify(before, after), after, before, actor.id, now)
        for handler in self._in_transaction:
            await handler(session, event)
        return event

    # -- venues and booths -------------------------------------------------------------------

    async def catalog(self) -> dict[int, Booth]:
        """Every booth with its venue, by id: read on every booking, so kept for CATALOG_TTL."""
        cached = self._catalog_cache
        if cached is not None and time.monotonic() - cached[0] < self.CATALOG_TTL:
            return cached[1]
        async with self.db.read() as session:
            catalog = await self._load_catalog(session)
        self._catalog_cache = (time.monotonic(), catalog)
        return catalog

    def catalog_changed(self) -> None:
        """Forget the cached venues and booths after any change to them."""
        self._catalog_cache = None

    async def _load_catalog(self, session: AsyncSession) -> dict[int, Booth]:
        result = await session.scalars(
            select(VenueRow).options(selectinload(VenueRow.booths), selectinload(VenueRow.blackouts))
        )
        catalog: dict[int, Booth] = {}
        for venue_row in result:
            venue = _venue(venue_row, self.default_rules)
            for booth_row in venue_row.booths:
                catalog[booth_row.id] = Booth(booth_row.id, booth_row.name, venue)
        return catalog

    async def venues(self) -> list[Venue]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(VenueRow).options(selectinload(VenueRow.blackouts)).order_by(VenueRow.id)
            )
            return [_venue(row, self.default_rules) for row in rows]

    async def booths(self) -> list[Booth]:
        return sorted((await self.catalog()).values(), key=lambda b: b.id)

    @staticmethod
    def _pick(catalog: dict[int, Booth], ids: Iterable[int]) -> tuple[Booth, ...]:
        picked = []
        for booth_id in ids:
            if booth_id not in catalog:
                raise InvalidInput(
                    f"there is no booth with id {booth_id}", field="booths", code="unknown_booth"
                )
            picked.append(catalog[booth_id])
        return tuple(picked)

    async def create_venue(
        self,
        *,
        name: str,
        city: str,
        timezone: str,
        country: str,
        subdivision: str | None,
        address: str,
        opening_hours: OpeningHours,
        rules: dict[str, Any] | None = None,
    ) -> int:
        async with self.db.write() as session:
            row = VenueRow(
                name=name,
                city=city,
                timezone=timezone,
                country=country,
                subdivision=subdivision,
                address=address,
                opening_hours=opening_hours.to_json(),
                rules=rules or {},
            )
            session.add(row)
            await session.flush()
        self.catalog_changed()
        return row.id

    async def create_booth(self, venue_id: int, name: str) -> int:
        async with self.db.write() as session:
            row = BoothRow(venue_id=venue_id, name=name)
            session.add(row)
            await session.flush()
        self.catalog_changed()
        return row.id

    async def venue_id_by_name(self, name: str) -> int | None:
        async with self.db.read() as session:
            return await session.scalar(select(VenueRow.id).where(VenueRow.name == name))

    async def booth_id_by_name(self, venue_id: int, name: str) -> int | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(BoothRow.id).where(BoothRow.venue_id == venue_id, BoothRow.name == name)
            )

    async def add_blackout(self, venue_id: int, start: datetime, end: datetime, reason: str) -> None:
        async with self.db.write() as session:
            session.add(BlackoutRow(venue_id=venue_id, start_at=start, end_at=end, reason=reason))
        self.catalog_changed()

    # -- accounts and tokens -----------------------------------------------------------------

    async def create_account(
        self,
        *,
        email: str,
        name: str,
        company: str,
        role: Role,
        password_hash: str,
        now: datetime,
        venue_id: int | None = None,
    ) -> Account:
        email = email.strip().lower()
        try:
            async with self.db.write() as session:
                if await session.scalar(select(AccountRow.id).where(AccountRow.email == email)) is not None:
                    raise EmailTaken(f"an account with email {email} already exists", field="email")
                row = AccountRow(
                    email=email,
                    name=name,
                    company=company,
                    role=role.value,
                    password_hash=password_hash,
                    created_at=now,
                    venue_id=venue_id,
                )
                session.add(row)
                await session.flush()
                return _account(row)
        except IntegrityError:
            raise EmailTaken(f"an account with email {email} already exists", field="email") from None

    async def credentials(self, email: str) -> tuple[Account, str] | None:
        """The account and its password hash, for logging in."""
        async with self.db.read() as session:
            row = await session.scalar(select(AccountRow).where(AccountRow.email == email.strip().lower()))
            return (_account(row), row.password_hash) if row else None

    async def account(self, account_id: int) -> Account | None:
        async with self.db.read() as session:
            row = await session.get(AccountRow, account_id)
            return _account(row) if row else None

    async def set_password(self, account_id: int, password_hash: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(AccountRow).where(AccountRow.id == account_id).values(password_hash=password_hash)
            )

    async def add_token(
        self, account_id: int, token_hash: str, kind: str, now: datetime, expires_at: datetime | None
    ) -> None:
        async with self.db.write() as session:
            session.add(
                AccessTokenRow(
                    account_id=account_id,
                    token_hash=token_hash,
                    kind=kind,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    async def account_for_token(self, token_hash: str, now: datetime) -> tuple[Account, str] | None:
        """The live token's account and the token's kind (``api`` or ``session``)."""
        async with self.db.read() as session:
            found = (
                await session.execute(
                    select(AccountRow, AccessTokenRow.kind)
                    .join(AccessTokenRow, AccessTokenRow.account_id == AccountRow.id)
                    .where(AccessTokenRow.token_hash == token_hash, AccessTokenRow.revoked_at.is_(None))
                    .where((AccessTokenRow.expires_at.is_(None)) | (AccessTokenRow.expires_at > now))
                )
            ).first()
            return (_account(found[0]), found[1]) if found else None

    async def revoke_token(self, token_hash: str, now: datetime) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(AccessTokenRow).where(AccessTokenRow.token_hash == token_hash).values(revoked_at=now)
            )

    # -- availability ------------------------------------------------------------------------

    async def availability(
        self,
        booth_ids: Sequence[int],
        day_from: date,
        day_to: date,
        duration: timedelta,
        now: datetime,
        days_tz: str | None = None,
        ignore_booking: int | None = None,
    ) -> tuple[tuple[Booth, ...], list[Slot]]:
        """Free common slots; ``ignore_booking`` frees that booking's own holds (to reschedule it)."""
        booths = self._pick(await self.catalog(), booth_ids)
        async with self.db.read() as session:
            tz = days_tz or booths[0].venue.timezone
            window = TimeRange(
                datetime.combine(day_from, datetime.min.time(), now.tzinfo) - timedelta(days=2),
                datetime.combine(day_to, datetime.min.time(), now.tzinfo) + timedelta(days=3),
            )
            busy = [b for b in await self._busy(session, booth_ids, window) if b.booking_id != ignore_booking]
        return booths, rules.available_slots(booths, day_from, day_to, duration, busy, now, days_tz=tz)

    async def _busy(self, session: AsyncSession, booth_ids: Iterable[int], window: TimeRange) -> list[Busy]:
        rows = await session.execute(
            select(BoothHoldRow.booth_id, BookingRow.start_at, BookingRow.end_at, BookingRow.id)
            .join(BookingRow, BookingRow.id == BoothHoldRow.booking_id)
            .where(BoothHoldRow.booth_id.in_(list(booth_ids)), BoothHoldRow.active)
            .where(overlapping(window.start - _BUSY_MARGIN, window.end + _BUSY_MARGIN))
        )
        return [Busy(booth_id, start, end, booking_id) for booth_id, start, end, booking_id in rows]

    async def _organizer_ranges(
        self, session: AsyncSession, organizer_id: int, around: datetime, exclude: int | None
    ) -> list[TimeRange]:
        query = (
            select(BookingRow.start_at, BookingRow.end_at)
            .where(
                BookingRow.organizer_id == organizer_id, BookingRow.status == BookingStatus.CONFIRMED.value
            )
            .where(BookingRow.start_at > around - _QUOTA_MARGIN, BookingRow.start_at < around + _QUOTA_MARGIN)
        )
        if exclude is not None:
            query = query.where(BookingRow.id != exclude)
        return [TimeRange(s, e) for s, e in await session.execute(query)]

    # -- bookings ----------------------------------------------------------------------------

    def _view(self, row: BookingRow, catalog: dict[int, Booth]) -> BookingView:
        return BookingView(
            id=row.id,
            uid=row.uid,
            title=row.title,
            status=BookingStatus(row.status),
            start=row.start_at,
            end=row.end_at,
            sequence=row.sequence,
            created_at=row.created_at,
            updated_at=row.updated_at,
            organizer_name=row.organizer.name,
            organizer_email=row.organizer.email,
            organizer_company=row.organizer.company,
            guests=tuple(row.guests),
            booths=tuple(catalog[h.booth_id] for h in row.holds),
            organizer_id=row.organizer_id,
            override_reason=row.override_reason,
        )

    @staticmethod
    def _booking_query() -> Any:
        return select(BookingRow).options(selectinload(BookingRow.holds), selectinload(BookingRow.organizer))

    async def _check(
        self,
        session: AsyncSession,
        actor: Account,
        organizer_id: int,
        booths: tuple[Booth, ...],
        start: datetime,
        end: datetime,
        override_reason: str | None,
        now: datetime,
        replaces: int | None,
    ) -> None:
        if override_reason is not None and not policy.can_override(actor, booths):
            raise Forbidden(
                "only staff of a booked venue or an admin may override booking rules", field="override_reason"
            )
        if not self.db.is_sqlite:
            # One organizer's bookings are checked one at a time, so the weekly quota holds under
            # concurrency. On SQLite every writer is serialized already.
            await session.execute(
                select(AccountRow.id).where(AccountRow.id == organizer_id).with_for_update()
            )
        request = BookingRequest(booths, start, end, organizer_id, replaces_booking_id=replaces)
        busy = await self._busy(session, [b.id for b in booths], TimeRange(start, end))
        mine = await self._organizer_ranges(session, organizer_id, start, replaces)
        rules.check_booking(request, busy, mine, now, override=override_reason is not None)

    async def _flush_holds(
        self, session: AsyncSession, booths: tuple[Booth, ...], start: datetime, end: datetime
    ) -> None:
        """Flush, turning the database's refusal of an overlap into the same 409 as the check."""
        try:
            await session.flush()
        except IntegrityError as exc:
            if "booth_holds_no_overlap" not in str(exc.orig) and "booth_holds_no_overlap" not in str(exc):
                raise
            raise BookingConflict(
                [Conflict(b.id, b.name, _z(start), _z(end), None) for b in booths]
            ) from None

    async def create_booking(
        self, spec: NewBooking, actor: Account, now: datetime
    ) -> tuple[BookingView, BookingChanged | None]:
        """Book every booth of ``spec`` or none. Returns the booking and its change event, which is
        None when an idempotency key replayed an earlier booking."""
        fingerprint = spec.fingerprint()
        if spec.idempotency_key is not None:
            replayed = await self._replay(actor, spec.idempotency_key, fingerprint)
            if replayed:
                return replayed, None
        catalog = await self.catalog()
        booths = self._pick(catalog, spec.booth_ids)
        try:
            async with self.db.write() as session:
                await self._check(
                    session, actor, actor.id, booths, spec.start, spec.end, spec.override_reason, now, None
                )
                row = BookingRow(
                    uid=f"{uuid.uuid4()}@sebastian",
                    title=spec.title,
                    organizer_id=actor.id,
                    status=BookingStatus.CONFIRMED.value,
                    start_at=spec.start,
                    end_at=spec.end,
                    sequence=0,
                    guests=list(spec.guests),
                    idempotency_key=spec.idempotency_key,
                    request_hash=fingerprint,
                    override_reason=spec.override_reason,
                    overridden_by=actor.id if spec.override_reason else None,
                    created_at=now,
                    updated_at=now,
                    holds=[_hold(b, i, spec.start, spec.end) for i, b in enumerate(booths)],
                )
                session.add(row)
                await self._flush_holds(session, booths, spec.start, spec.end)
                row.organizer = await session.get_one(AccountRow, actor.id)
                view = self._view(row, catalog)
                event = await self._changed(session, None, view, actor, now)
        except IntegrityError:
            # Two retries with one idempotency key raced: the first one's booking is the answer.
            if spec.idempotency_key is not None:
                replayed = await self._replay(actor, spec.idempotency_key, fingerprint)
                if replayed:
                    return replayed, None
            raise
        return view, event

    async def _replay(self, actor: Account, key: str, fingerprint: str) -> BookingView | None:
        async with self.db.read() as session:
            row = await session.scalar(
                self._booking_query().where(
                    BookingRow.organizer_id == actor.id, BookingRow.idempotency_key == key
                )
            )
            if row is None:
                return None
            if row.request_hash != fingerprint:
                raise InvalidInput(
                    "this idempotency key was already used for a different booking request",
                    field="idempotency_key",
                    code="idempotency_key_reused",
                )
        return self._view(row, await self.catalog())

    async def booking(self, booking_id: int, actor: Account | None = None) -> BookingView:
        """One booking; with ``actor``, only if that account may see it (else 404, not 403)."""
        async with self.db.read() as session:
            row = await session.scalar(self._booking_query().where(BookingRow.id == booking_id))
        if row is None:
            raise NotFound(f"there is no booking with id {booking_id}", field="id")
        view = self._view(row, await self.catalog())
        if actor is not None and not policy.can_view(actor, view):
            raise NotFound(f"there is no booking with id {booking_id}", field="id")
        return view

    async def bookings_by_id(self, booking_ids: Iterable[int]) -> dict[int, BookingView]:
        """The bookings of ``booking_ids`` that exist, by id (no access check: for the server's
        own work, such as composing a reminder)."""
        wanted = sorted(set(booking_ids))
        if not wanted:
            return {}
        catalog = await self.catalog()
        async with self.db.read() as session:
            rows = await session.scalars(self._booking_query().where(BookingRow.id.in_(wanted)))
            return {row.id: self._view(row, catalog) for row in rows}

    async def bookings_for(
        self, actor: Account, *, start: datetime | None = None, end: datetime | None = None, limit: int = 500
    ) -> list[BookingView]:
        """The organizer's own bookings; staff: their venue's; admins: all."""
        query = self._booking_query().order_by(BookingRow.start_at, BookingRow.id).limit(limit)
        if actor.role is Role.ENTREPRENEUR:
            query = query.where(BookingRow.organizer_id == actor.id)
        elif actor.role is Role.STAFF:
            held_here = (
                select(BoothHoldRow.booking_id)
                .join(BoothRow, BoothRow.id == BoothHoldRow.booth_id)
                .where(BoothRow.venue_id == actor.venue_id)
            )
            query = query.where((BookingRow.id.in_(held_here)) | (BookingRow.organizer_id == actor.id))
        if start is not None:
            query = query.where(BookingRow.end_at > start)
        if end is not None:
            query = query.where(BookingRow.start_at < end)
        catalog = await self.catalog()
        async with self.db.read() as session:
            return [self._view(row, catalog) for row in await session.scalars(query)]

    async def bookings_of_booths(
        self, booth_ids: Sequence[int], start: datetime, end: datetime
    ) -> list[BookingView]:
        """Bookings (any status) holding any of these booths that overlap ``[start, end)``."""
        query = (
            self._booking_query()
            .where(
                BookingRow.id.in_(
                    select(BoothHoldRow.booking_id).where(BoothHoldRow.booth_id.in_(list(booth_ids)))
                )
            )
            .where(overlapping(start, end))
            .order_by(BookingRow.start_at, BookingRow.id)
        )
        catalog = await self.catalog()
        async with self.db.read() as session:
            return [self._view(row, catalog) for row in await session.scalars(query)]

    async def _locked_booking(
        self, session: AsyncSession, booking_id: int, actor: Account, catalog: dict[int, Booth]
    ) -> BookingRow:
        row = await session.scalar(self._booking_query().where(BookingRow.id == booking_id).with_for_update())
        if row is None or not policy.can_view(actor, self._view(row, catalog)):
            raise NotFound(f"there is no booking with id {booking_id}", field="id")
        return row

    async def change_booking(
        self, booking_id: int, change: BookingChange, actor: Account, now: datetime
    ) -> BookingChanged:
        """Reschedule or edit a confirmed booking; the same booking, its sequence + 1."""
        catalog = await self.catalog()
        async with self.db.write() as session:
            row = await self._locked_booking(session, booking_id, actor, catalog)
            before = self._view(row, catalog)
            if row.status != BookingStatus.CONFIRMED.value:
                raise BookingStateError(
                    "a cancelled booking cannot be changed; book a new session", code="booking_cancelled"
                )
            if row.end_at <= now:
                raise BookingStateError(
                    "this session is over and can no longer be changed", code="booking_ended"
                )
            start = change.start or row.start_at
            end = change.end or (start + (row.end_at - row.start_at))
            booth_ids = change.booth_ids or tuple(h.booth_id for h in row.holds)
            booths = self._pick(catalog, booth_ids)
            moved = (start, end, booth_ids) != (
                row.start_at,
                row.end_at,
                tuple(h.booth_id for h in row.holds),
            )
            if moved or change.override_reason is not None:
                await self._check(
                    session, actor, row.organizer_id, booths, start, end, change.override_reason, now, row.id
                )
            if moved:
                row.start_at, row.end_at = start, end
                row.holds = [_hold(b, i, start, end) for i, b in enumerate(booths)]
            if change.title is not None:
                row.title = change.title
            if change.guests is not None:
                row.guests = list(change.guests)
            if change.override_reason is not None:
                row.override_reason, row.overridden_by = change.override_reason, actor.id
            row.sequence += 1
            row.updated_at = now
            await self._flush_holds(session, booths, start, end)
            return await self._changed(session, before, self._view(row, catalog), actor, now)

    async def cancel_booking(
        self, booking_id: int, actor: Account, now: datetime, *, at_sequence: int | None = None
    ) -> tuple[BookingView, BookingChanged | None]:
        """Cancel; the row stays, its holds free the booths. Cancelling twice changes nothing
        (the event is None then). ``at_sequence``: only if the booking is still at that version
        (a signed link of an e-mail), else :class:`BookingStateError` ``booking_changed``."""
        catalog = await self.catalog()
        async with self.db.write() as session:
            row = await self._locked_booking(session, booking_id, actor, catalog)
            if row.status != BookingStatus.CONFIRMED.value:
                return self._view(row, catalog), None
            if at_sequence is not None and row.sequence != at_sequence:
                raise BookingStateError(
                    "this session has changed since the link was sent", code="booking_changed"
                )
            if row.end_at <= now:
                raise BookingStateError(
                    "this session is over and can no longer be cancelled", code="booking_ended"
                )
            before = self._view(row, catalog)
            row.status = BookingStatus.CANCELLED.value
            for hold in row.holds:
                hold.active = False
            row.sequence += 1
            row.updated_at = now
            await session.flush()
            after = self._view(row, catalog)
            return after, await self._changed(session, before, after, actor, now)


def _hold(booth: Booth, position: int, start: datetime, end: datetime) -> BoothHoldRow:
    return BoothHoldRow(
        booth_id=booth.id,
        position=position,
        start_at=start,
        blocked_until=end + booth.venue.rules.buffer,
        active=True,
    )


def _z(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")

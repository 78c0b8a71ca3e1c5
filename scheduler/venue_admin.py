"""Editing venues: opening hours, blackouts, and the bookings a staff console looks at.

Queries over the same tables as :mod:`scheduler.store`, kept apart so the booking repository
stays readable. Every change to a venue forgets the store's cached catalog at once
(``Store.catalog_changed``), so the next availability query and booking check see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from . import bounds
from .errors import InvalidInput, NotFound
from .model import BookingStatus, Busy, OpeningHours
from .store import Store
from .tables import BlackoutRow, BookingRow, BoothHoldRow, BoothRow, VenueRow, overlapping


@dataclass(frozen=True)
class BlackoutRecord:
    id: int
    venue_id: int
    start: datetime
    end: datetime
    reason: str


def _record(row: BlackoutRow) -> BlackoutRecord:
    return BlackoutRecord(row.id, row.venue_id, row.start_at, row.end_at, row.reason)


class VenueAdmin:
    """Venue edits for staff and admins; permission checks belong to the caller."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    async def update_venue(
        self,
        venue_id: int,
        *,
        opening_hours: OpeningHours | None = None,
        name: str | None = None,
        address: str | None = None,
    ) -> None:
        """Replace the fields that are given; raises NotFound for an unknown venue."""
        try:
            async with self.db.write() as session:
                row = await session.get(VenueRow, venue_id)
                if row is None:
                    raise NotFound(f"there is no venue with id {venue_id}", field="id")
                if opening_hours is not None:
                    row.opening_hours = opening_hours.to_json()
                if name is not None:
                    row.name = name
                if address is not None:
                    row.address = address
                await session.flush()
        except IntegrityError:
            raise InvalidInput(
                f"another venue is already called {name!r}", field="name", code="name_taken"
            ) from None
        finally:
            self.store.catalog_changed()

    async def blackouts(self, venue_id: int) -> list[BlackoutRecord]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(BlackoutRow)
                .where(BlackoutRow.venue_id == venue_id)
                .order_by(BlackoutRow.start_at, BlackoutRow.id)
            )
            return [_record(row) for row in rows]

    async def add_blackout(
        self, venue_id: int, start: datetime, end: datetime, reason: str
    ) -> BlackoutRecord:
        bounds.check_instant(start, "start")
        bounds.check_instant(end, "end")
        bounds.check_text(reason, "reason")
        async with self.db.write() as session:
            if await session.get(VenueRow, venue_id) is None:
                raise NotFound(f"there is no venue with id {venue_id}", field="id")
            row = BlackoutRow(venue_id=venue_id, start_at=start, end_at=end, reason=reason)
            session.add(row)
            await session.flush()
            record = _record(row)
        self.store.catalog_changed()
        return record

    async def delete_blackout(self, venue_id: int, blackout_id: int) -> None:
        async with self.db.write() as session:
            result = await session.execute(
                delete(BlackoutRow).where(BlackoutRow.id == blackout_id, BlackoutRow.venue_id == venue_id)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"venue {venue_id} has no blackout with id {blackout_id}", field="blackout_id")
        self.store.catalog_changed()

    async def holds(self, booth_ids: Sequence[int], start: datetime, end: datetime) -> list[Busy]:
        """Confirmed bookings of these booths overlapping ``[start, end)``, unbuffered."""
        if not booth_ids:
            return []
        async with self.db.read() as session:
            rows = await session.execute(
                select(BoothHoldRow.booth_id, BookingRow.start_at, BookingRow.end_at, BookingRow.id)
                .join(BookingRow, BookingRow.id == BoothHoldRow.booking_id)
                .where(BoothHoldRow.booth_id.in_(list(booth_ids)), BoothHoldRow.active)
                .where(overlapping(start, end))
            )
            return [Busy(booth_id, s, e, booking_id) for booth_id, s, e, booking_id in rows]

    async def bookings_in_venue(self, venue_id: int, start: datetime, end: datetime) -> list[int]:
        """Ids of the confirmed bookings holding a booth of the venue during ``[start, end)``."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(BookingRow.id)
                .distinct()
                .join(BoothHoldRow, BoothHoldRow.booking_id == BookingRow.id)
                .join(BoothRow, BoothRow.id == BoothHoldRow.booth_id)
                .where(BoothRow.venue_id == venue_id, BookingRow.status == BookingStatus.CONFIRMED.value)
                .where(overlapping(start, end))
                .order_by(BookingRow.id)
            )
            return list(rows)

"""What one booking change was, as one event: the service layer's ``BookingChanged``.

Every change of a booking (created, moved, extended, edited, cancelled) is made by one store
method inside one transaction. That method builds this event, hands it to the handlers that
must write in the same transaction (the mail outbox: a change that rolls back sends nothing),
and returns it; after the commit the service layer (``booth_server.bookings``) hands it to
everyone who reacts to a committed change (signalling rooms, idle booths' schedules).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import BookingStatus, BookingView


class ChangeKind(enum.StrEnum):
    CREATED = "created"
    MOVED = "moved"  # another start, or other booths: the call as booked no longer exists
    EXTENDED = "extended"  # same start and booths, a later end
    SHORTENED = "shortened"  # same start and booths, an earlier end
    EDITED = "edited"  # title, guests or the override reason only
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BookingChanged:
    kind: ChangeKind
    booking: BookingView  # as committed
    before: BookingView | None  # None for a new booking
    actor_id: int | None
    at: datetime

    @property
    def booth_ids(self) -> frozenset[int]:
        """Every booth the change concerns: those held before and after."""
        held = {b.id for b in self.booking.booths}
        if self.before is not None:
            held |= {b.id for b in self.before.booths}
        return frozenset(held)


def classify(before: BookingView | None, after: BookingView) -> ChangeKind:
    """The kind of change from ``before`` to ``after``."""
    if before is None:
        return ChangeKind.CREATED
    if after.status is BookingStatus.CANCELLED:
        return ChangeKind.CANCELLED
    same_booths = [b.id for b in before.booths] == [b.id for b in after.booths]
    if not same_booths or before.start != after.start:
        return ChangeKind.MOVED
    if after.end > before.end:
        return ChangeKind.EXTENDED
    if after.end < before.end:
        return ChangeKind.SHORTENED
    return ChangeKind.EDITED


TransactionalHandler = Callable[[Any, BookingChanged], Awaitable[None]]
"""``(session, event) -> None``, awaited inside the change's transaction (an ``AsyncSession``)."""

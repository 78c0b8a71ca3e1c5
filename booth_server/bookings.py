"""The booking service layer: one function per booking change, then one event.

Each function asks the store to make the change (the rules, the database's guard against double
booking and the in-transaction handlers such as the mail outbox all run in that one
transaction), and once it is committed hands the :class:`~scheduler.changes.BookingChanged` to
every subscriber: the signalling core (rooms close, extend or move; idle booths get a fresh
schedule, on every node). HTTP handlers call these functions and nothing else, so no change
can reach the database without reaching the booths too. Cosmicpython's service layer and
message bus are the model.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from scheduler import policy
from scheduler.cancel_links import CancelLink
from scheduler.changes import BookingChanged
from scheduler.errors import Forbidden, NotFound
from scheduler.model import Account, BookingView
from scheduler.store import BookingChange, NewBooking, Store

from .clock import Clock

log = logging.getLogger(__name__)

Subscriber = Callable[[BookingChanged], Awaitable[None]]


class BookingService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(event)`` after every committed change; returns the unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    async def create(self, spec: NewBooking, actor: Account) -> tuple[BookingView, bool]:
        """Book; returns the booking and whether it is new (False: an idempotent replay)."""
        view, event = await self.store.create_booking(spec, actor, self.clock.now())
        await self._emit(event)
        return view, event is not None

    async def change(self, booking_id: int, change: BookingChange, actor: Account) -> BookingView:
        """Reschedule or edit."""
        event = await self.store.change_booking(booking_id, change, actor, self.clock.now())
        await self._emit(event)
        return event.booking

    async def extend(self, booking_id: int, minutes: int, note: str | None, actor: Account) -> BookingView:
        """Move the end of a session later (staff of a booked venue or an admin), with a recorded
        reason: a change like any other, checked for conflicts."""
        current = await self.store.booking(booking_id, actor)
        if not policy.can_override(actor, current.booths):
            raise Forbidden("only staff of a booked venue or an admin may extend a session", field="minutes")
        reason = f"extended by staff by {minutes} min" + (f": {note}" if note else "")
        change = BookingChange(
            start=current.start, end=current.end + timedelta(minutes=minutes), override_reason=reason
        )
        view = await self.change(booking_id, change, actor)
        log.info("booking %d extended by %d min by account %d", booking_id, minutes, actor.id)
        return view

    async def cancel(self, booking_id: int, actor: Account) -> BookingView:
        """Cancel (twice changes nothing and tells nobody)."""
        view, event = await self.store.cancel_booking(booking_id, actor, self.clock.now())
        await self._emit(event)
        return view

    async def cancel_from_link(self, link: CancelLink) -> tuple[BookingView, bool]:
        """Cancel from a verified one-click link of a reminder (no login): as the booking's
        organizer, and only at the link's sequence. Returns the booking and whether this call
        cancelled it (False: it was cancelled already, by this link or otherwise)."""
        current = await self.store.booking(link.booking_id)
        organizer = await self.store.account(current.organizer_id)
        if organizer is None:
            raise NotFound(f"there is no booking with id {link.booking_id}", field="token")
        view, event = await self.store.cancel_booking(
            link.booking_id, organizer, self.clock.now(), at_sequence=link.sequence
        )
        await self._emit(event)
        return view, event is not None

    async def _emit(self, event: BookingChanged | None) -> None:
        """Hand a committed change to every subscriber. Never raises: the change is stored, and a
        subscriber that failed (a booth, a node) catches up from the database."""
        if event is None:
            return
        for subscriber in list(self._subscribers):
            try:
                await subscriber(event)
            except Exception:
                log.exception("a subscriber failed on the change of booking %d", event.booking.id)

"""Who may see, change and override what: pure functions of an account and a booking."""

from __future__ import annotations

from .model import Account, BookingView, Booth, Role


def venue_ids(booths: tuple[Booth, ...] | list[Booth]) -> set[int]:
    return {booth.venue.id for booth in booths}


def can_view(actor: Account, booking: BookingView) -> bool:
    if actor.role is Role.ADMIN or booking.organizer_id == actor.id:
        return True
    return actor.role is Role.STAFF and actor.venue_id in venue_ids(booking.booths)


def can_override(actor: Account, booths: tuple[Booth, ...] | list[Booth]) -> bool:
    """Admins override anywhere; staff only for sessions that use a booth of their venue."""
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.STAFF and actor.venue_id in venue_ids(booths)


def can_manage_venue(actor: Account, venue_id: int) -> bool:
    return actor.role is Role.ADMIN or (actor.role is Role.STAFF and actor.venue_id == venue_id)

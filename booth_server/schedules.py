"""The ``schedule`` an idle booth is shown, built from the scheduler's bookings.

The times are converted by :func:`scheduler.zones.to_local`, the project's one zone library.
"""

from __future__ import annotations

from datetime import datetime

from scheduler import zones
from scheduler.model import BookingStatus, Booth
from scheduler.store import Store
from webrtc.limits import SCHEDULE_HORIZON
from webrtc.messages import Schedule
from webrtc.presence import BookingView, BoothView, build_schedule, schedule_changes_at


def booth_view(booth: Booth) -> BoothView:
    return BoothView(booth_id=booth.id, name=booth.name, city=booth.venue.city, timezone=booth.venue.timezone)


async def schedule_for(store: Store, booth_id: int, now: datetime) -> tuple[Schedule, datetime] | None:
    """The booth's schedule at ``now`` and when it must be recomputed; None for an unknown booth."""
    booth = (await store.catalog()).get(booth_id)
    if booth is None:
        return None
    # Two horizons: what is shown (24 h) and what enters it before the next recomputation.
    views = await store.bookings_of_booths([booth_id], now, now + 2 * SCHEDULE_HORIZON)
    bookings = [
        BookingView(v.id, v.start, v.end, tuple(booth_view(b) for b in v.booths))
        for v in views
        if v.status is BookingStatus.CONFIRMED
    ]
    schedule = build_schedule(booth_view(booth), bookings, now, to_local=zones.to_local)
    changes_at = schedule_changes_at(booth_id, bookings, now)
    recompute_at = now + SCHEDULE_HORIZON
    return schedule, min(changes_at, recompute_at) if changes_at else recompute_at

"""The ``schedule`` an idle booth is shown, built from the scheduler's bookings.

The times are converted by :func:`scheduler.zones.to_local`, the project's one zone library.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from scheduler import zones
from scheduler.model import BookingStatus, Booth
from scheduler.store import Store
from webrtc.limits import SCHEDULE_HORIZON
from webrtc.messages import Schedule
from webrtc.presence import BookingView, BoothView, build_schedule, schedule_changes_at


def booth_view(booth: Booth) -> BoothView:
    return BoothView(booth_id=booth.id, name=booth.name, city=booth.venue.city, timezone=booth.venue.timezone)


async def schedules_for(
    store: Store, booth_ids: Sequence[int], now: datetime
) -> dict[int, tuple[Schedule, datetime]]:
    """Each booth's schedule at ``now`` and when it must be recomputed, from one query for all
    of them (booths connecting at once); unknown booths are left out."""
    catalog = await store.catalog()
    wanted = [b for b in booth_ids if b in catalog]
    if not wanted:
        return {}
    # Two horizons: what is shown (24 h) and what enters it before the next recomputation.
    views = await store.bookings_of_booths(wanted, now, now + 2 * SCHEDULE_HORIZON)
    of_booth: dict[int, list[BookingView]] = {b: [] for b in wanted}
    for v in views:
        if v.status is not BookingStatus.CONFIRMED:
            continue
        view = BookingView(v.id, v.start, v.end, tuple(booth_view(b) for b in v.booths))
        for booth in v.booths:
            if booth.id in of_booth:
                of_booth[booth.id].append(view)
    out = {}
    recompute_at = now + SCHEDULE_HORIZON
    for booth_id, bookings in of_booth.items():
        schedule = build_schedule(booth_view(catalog[booth_id]), bookings, now, to_local=zones.to_local)
        changes_at = schedule_changes_at(booth_id, bookings, now)
        out[booth_id] = (schedule, min(changes_at, recompute_at) if changes_at else recompute_at)
    return out

"""Presence of idle booths and the ``schedule`` they are shown, as pure functions of data.

A booth that is connected but in no room is *idle*: it shows what is coming up. The I/O
layer feeds in bookings (UTC instants from the scheduler) and pushes the ``schedule``
message that :meth:`Presence.update` returns, which is only when it changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from webrtc.limits import JOIN_OPENS_BEFORE_START, SCHEDULE_HORIZON
from webrtc.messages import Partner, Schedule, ScheduledBooking

ToLocal = Callable[[datetime, str], datetime]


def zoneinfo_local(instant: datetime, timezone: str) -> datetime:
    """UTC instant to wall-clock time in an IANA zone (zoneinfo: exact, no localize pitfalls)."""
    return instant.astimezone(ZoneInfo(timezone))


@dataclass(frozen=True)
class BoothView:
    booth_id: int
    name: str
    city: str
    timezone: str


@dataclass(frozen=True)
class BookingView:
    """A booking as presence needs it: UTC range and every booth it holds."""

    booking_id: int
    start: datetime
    end: datetime
    booths: tuple[BoothView, ...]


def build_schedule(
    booth: BoothView, bookings: Iterable[BookingView], now: datetime, *, to_local: ToLocal = zoneinfo_local
) -> Schedule:
    """``booth``'s bookings not yet over and starting within 24 h, soonest first.

    Times are in the booth's own zone, each partner's in the partner's zone, so a Paris
    kiosk can say "17:00 here, 08:00 in San Francisco".
    """
    horizon = now + SCHEDULE_HORIZON
    entries = []
    for booking in sorted(bookings, key=lambda b: (b.start, b.booking_id)):
        if booking.end <= now or booking.start >= horizon:
            continue
        if booth.booth_id not in {b.booth_id for b in booking.booths}:
            continue
        partners = tuple(
            Partner(
                booth_id=p.booth_id,
                name=p.name,
                city=p.city,
                timezone=p.timezone,
                local_start=to_local(booking.start, p.timezone),
                local_end=to_local(booking.end, p.timezone),
            )
            for p in booking.booths
            if p.booth_id != booth.booth_id
        )
        entries.append(
            ScheduledBooking(
                booking_id=booking.booking_id,
                start=booking.start,
                end=booking.end,
                local_start=to_local(booking.start, booth.timezone),
                local_end=to_local(booking.end, booth.timezone),
                join_opens_at=booking.start - JOIN_OPENS_BEFORE_START,
                partners=partners,
            )
        )
    return Schedule(
        booth_id=booth.booth_id, timezone=booth.timezone, generated_at=now, bookings=tuple(entries)
    )


def schedule_changes_at(booth_id: int, bookings: Iterable[BookingView], now: datetime) -> datetime | None:
    """The next instant at which ``build_schedule`` gives a different list (a booking enters
    the 24 h window or ends), so the I/O layer can recompute then instead of polling."""
    moments = []
    for booking in bookings:
        if booth_id not in {b.booth_id for b in booking.booths}:
            continue
        enters = booking.start - SCHEDULE_HORIZON
        moments += [m for m in (enters, booking.end) if m > now]
    return min(moments, default=None)


class Presence:
    """Which connected booths are idle, and the schedule each was last shown."""

    def __init__(self) -> None:
        self._in_room: dict[int, int | None] = {}  # connected booth -> booking id, or None if idle
        self._shown: dict[int, tuple[ScheduledBooking, ...]] = {}

    def connect(self, booth_id: int) -> None:
        """A booth authenticated; it is idle until it joins a room. Its next schedule is pushed."""
        self._in_room[booth_id] = None
        self._shown.pop(booth_id, None)

    def disconnect(self, booth_id: int) -> None:
        self._in_room.pop(booth_id, None)
        self._shown.pop(booth_id, None)

    def enter_room(self, booth_id: int, booking_id: int) -> None:
        self._in_room[booth_id] = booking_id

    def leave_room(self, booth_id: int) -> None:
        """Back to idle (left, or the room closed): the schedule is shown again."""
        if booth_id in self._in_room:
            self._in_room[booth_id] = None
            self._shown.pop(booth_id, None)

    def is_idle(self, booth_id: int) -> bool:
        return booth_id in self._in_room and self._in_room[booth_id] is None

    def idle_booths(self) -> list[int]:
        return sorted(b for b, room in self._in_room.items() if room is None)

    def update(self, schedule: Schedule) -> Schedule | None:
        """``schedule`` if its booth is idle and was not shown these bookings yet, else None."""
        booth_id = schedule.booth_id
        if not self.is_idle(booth_id) or self._shown.get(booth_id) == schedule.bookings:
            return None
        self._shown[booth_id] = schedule.bookings
        return schedule

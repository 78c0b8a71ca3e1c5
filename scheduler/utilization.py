"""How much of its open time each booth was booked, week by week: pure functions of data.

A week is Monday 00:00 to Monday 00:00 in the venue's own zone, so a DST week is 167 or 169
hours long and its opening hours are counted in local wall-clock time like the booking rules do.
Open time is opening hours minus public holidays and blackouts; booked time is every confirmed
booking of the booth clipped to the week (overrides may book outside opening hours, so a ratio
above 1 is possible and reported as is).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from .closures import closure_ranges
from .model import Booth, Busy, TimeRange, Venue
from .zones import local_span_to_utc

__all__ = ["BoothWeek", "VenueWeek", "monday_of", "open_ranges", "weekly_utilization"]


@dataclass(frozen=True)
class BoothWeek:
    booth_id: int
    booth_name: str
    booked: timedelta
    open: timedelta

    @property
    def ratio(self) -> float | None:
        """Booked over open time; None when the venue was closed all week."""
        return None if not self.open else self.booked / self.open


@dataclass(frozen=True)
class VenueWeek:
    monday: date
    #: The week as a UTC range: local Monday 00:00 to the next local Monday 00:00.
    range: TimeRange
    booths: tuple[BoothWeek, ...]


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _subtract(ranges: list[TimeRange], holes: Iterable[TimeRange]) -> list[TimeRange]:
    out = ranges
    for hole in holes:
        kept: list[TimeRange] = []
        for r in out:
            if not r.overlaps(hole):
                kept.append(r)
                continue
            if r.start < hole.start:
                kept.append(TimeRange(r.start, hole.start))
            if hole.end < r.end:
                kept.append(TimeRange(hole.end, r.end))
        out = kept
    return out


def open_ranges(venue: Venue, first_day: date, days: int) -> list[TimeRange]:
    """The UTC ranges in which ``venue`` is open on ``days`` local days from ``first_day``."""
    spans = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        spans += [
            local_span_to_utc(day, o, c, venue.timezone)
            for o, c in venue.opening_hours.for_weekday(day.weekday())
        ]
    spans = [s for s in spans if s.start < s.end]
    if not spans:
        return []
    closed = [r for r, _ in closure_ranges(venue, spans[0].start, spans[-1].end)]
    return _subtract(spans, closed)


def _clipped(start: datetime, end: datetime, window: TimeRange) -> timedelta:
    return max(timedelta(0), min(end, window.end) - max(start, window.start))


def weekly_utilization(
    venue: Venue, booths: Sequence[Booth], mondays: Sequence[date], holds: Sequence[Busy]
) -> list[VenueWeek]:
    """One :class:`VenueWeek` per local Monday in ``mondays``, one entry per booth of ``booths``.

    ``holds`` are the booths' confirmed bookings (unbuffered ranges).
    """
    weeks = []
    for monday in mondays:
        if monday.weekday() != 0:
            raise ValueError(f"{monday} is not a Monday")
        window = local_span_to_utc(monday, time(0), time(0), venue.timezone)
        window = TimeRange(
            window.start, local_span_to_utc(monday + timedelta(days=6), time(0), time(0), venue.timezone).end
        )
        open_time = sum((r.duration for r in open_ranges(venue, monday, 7)), timedelta(0))
        entries = tuple(
            BoothWeek(
                booth_id=booth.id,
                booth_name=booth.name,
                booked=sum(
                    (_clipped(h.start, h.end, window) for h in holds if h.booth_id == booth.id), timedelta(0)
                ),
                open=open_time,
            )
            for booth in booths
        )
        weeks.append(VenueWeek(monday, window, entries))
    return weeks

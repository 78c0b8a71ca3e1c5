"""Builders for the demo venues and booths: La Cantine (Paris) and Mission Co-working (SF)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from scheduler.model import Blackout, BookingRequest, Booth, Busy, OpeningHours, Rules, TimeRange, Venue

PARIS_TZ = "Europe/Paris"
SF_TZ = "America/Los_Angeles"


def weekdays(opens: time, closes: time) -> OpeningHours:
    """Monday to Friday, one span a day."""
    return OpeningHours({day: ((opens, closes),) for day in range(5)})


def paris_venue(
    *, rules: Rules | None = None, blackouts: Sequence[Blackout] = (), hours: OpeningHours | None = None
) -> Venue:
    return Venue(
        id=1,
        name="La Cantine",
        city="Paris",
        timezone=PARIS_TZ,
        country="FR",
        subdivision=None,
        opening_hours=hours or weekdays(time(9), time(19)),
        blackouts=tuple(blackouts),
        rules=rules or Rules(),
        address="Paris",
    )


def sf_venue(
    *, rules: Rules | None = None, blackouts: Sequence[Blackout] = (), hours: OpeningHours | None = None
) -> Venue:
    return Venue(
        id=2,
        name="Mission Co-working",
        city="San Francisco",
        timezone=SF_TZ,
        country="US",
        subdivision="CA",
        opening_hours=hours or weekdays(time(8), time(18)),
        blackouts=tuple(blackouts),
        rules=rules or Rules(),
        address="San Francisco",
    )


PARIS = paris_venue()
SF = sf_venue()
CANTINE_A = Booth(1, "Cantine A", PARIS)
CANTINE_B = Booth(2, "Cantine B", PARIS)
SF_A = Booth(3, "SF A", SF)
SF_B = Booth(4, "SF B", SF)
BOOTHS = (CANTINE_A, CANTINE_B, SF_A, SF_B)
PAIR = (CANTINE_A, SF_A)


def with_venue(booth: Booth, venue: Venue) -> Booth:
    """The same booth in a venue with other rules, hours or blackouts."""
    return replace(booth, venue=venue)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def request(
    start: datetime,
    minutes: int = 60,
    booths: Sequence[Booth] = PAIR,
    *,
    organizer: int = 1,
    replaces: int | None = None,
) -> BookingRequest:
    return BookingRequest(
        booths=tuple(booths),
        start=start,
        end=start + timedelta(minutes=minutes),
        organizer_id=organizer,
        replaces_booking_id=replaces,
    )


def busy(booth: Booth, start: datetime, end: datetime, booking_id: int = 99) -> Busy:
    return Busy(booth_id=booth.id, start=start, end=end, booking_id=booking_id)


def hours_ago(instant: datetime, hours: float) -> datetime:
    return instant - timedelta(hours=hours)


def week_of(instant: datetime, minutes: Sequence[int]) -> list[TimeRange]:
    """Organizer bookings of the given lengths on the same UTC day as ``instant``, early morning."""
    day = instant.replace(hour=0, minute=0)
    return [
        TimeRange(day + timedelta(hours=i), day + timedelta(hours=i, minutes=m))
        for i, m in enumerate(minutes)
    ]

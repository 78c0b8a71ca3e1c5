"""Sample bookings for the calendar tests: plain BookingView/Booth/Venue values, and the bookings
around every daylight-saving change of Paris and San Francisco in 2026, 2027 and 2028."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.model import BookingStatus, BookingView, Booth, OpeningHours, Venue

PARIS = Venue(
    id=1,
    name="La Cantine",
    city="Paris",
    timezone="Europe/Paris",
    country="FR",
    subdivision=None,
    opening_hours=OpeningHours({}),
    address="151 rue Montmartre, 75002 Paris",
)
SAN_FRANCISCO = Venue(
    id=2,
    name="Mission Hub",
    city="San Francisco",
    timezone="America/Los_Angeles",
    country="US",
    subdivision="CA",
    opening_hours=OpeningHours({}),
)
CANTINE_A = Booth(id=11, name="Cantine A", venue=PARIS)
SF_A = Booth(id=21, name="SF A", venue=SAN_FRANCISCO)

#: Commas, semicolons, a newline, a backslash-N, quotes and non-ASCII: everything TEXT escapes.
TRICKY_TITLE = 'Café Œuvre — 東京, seed; round\nDemo at C:\\Notes "v2"'
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
FMT = "%Y-%m-%dT%H:%M:%SZ"


def make_view(n: int = 1, **changes: Any) -> BookingView:
    """A confirmed one-hour booking of both booths, 2027-01-18 16:00–17:00 UTC
    (Paris 17:00 CET, San Francisco 08:00 PST), unless ``changes`` say otherwise."""
    start = changes.pop("start", datetime(2027, 1, 18, 16, 0, tzinfo=UTC))
    view = BookingView(
        id=n,
        uid=f"7c0e{n:04d}-2f4b-4d5e-9a61-0b8c1d2e3f40@sebastian.example",
        title="Investor call",
        status=BookingStatus.CONFIRMED,
        start=start,
        end=start + timedelta(hours=1),
        sequence=0,
        created_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 12, 2, 10, 30, tzinfo=UTC),
        organizer_name="Ada Lovelace",
        organizer_email="ada@analytical.example",
        organizer_company="Analytical Engines SAS",
        guests=("Charles Babbage <charles@babbage.example>", "mary@somerville.example"),
        booths=(CANTINE_A, SF_A),
    )
    return replace(view, **changes)


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime(FMT)


def _sundays(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    days = [first + timedelta(days=i) for i in range(31)]
    return [d for d in days if d.month == month and d.weekday() == 6]


def dst_changes(year: int) -> dict[str, datetime]:
    """The four changes of a year as UTC instants."""
    return {
        "EU spring": datetime.combine(_sundays(year, 3)[-1], time(1, 0), UTC),
        "EU autumn": datetime.combine(_sundays(year, 10)[-1], time(1, 0), UTC),
        # 02:00 local standard time (PST) and 02:00 local daylight time (PDT).
        "US spring": datetime.combine(_sundays(year, 3)[1], time(10, 0), UTC),
        "US autumn": datetime.combine(_sundays(year, 11)[0], time(9, 0), UTC),
    }


def dst_edge_views(years: tuple[int, ...] = (2026, 2027, 2028)) -> list[tuple[str, BookingView]]:
    """Bookings in the 8-hour weeks (US changed, EU not yet) and on each side of, and across,
    each change of each year."""
    cases: list[tuple[str, datetime, timedelta]] = []
    for year in years:
        changes = dst_changes(year)
        for label, instant in changes.items():
            cases.append(
                (f"{year} {label}: ends at the change", instant - timedelta(hours=1), timedelta(hours=1))
            )
            cases.append((f"{year} {label}: starts at the change", instant, timedelta(hours=1)))
            cases.append(
                (f"{year} {label}: across the change", instant - timedelta(minutes=30), timedelta(hours=1))
            )
        spring_8h = changes["US spring"] + (changes["EU spring"] - changes["US spring"]) / 2
        autumn_8h = changes["EU autumn"] + (changes["US autumn"] - changes["EU autumn"]) / 2
        for label, middle in (("8-hour weeks, March", spring_8h), ("8-hour week, autumn", autumn_8h)):
            start = datetime.combine(middle.date(), time(16, 0), UTC)  # 17:00 Paris
            cases.append((f"{year} {label}", start, timedelta(hours=1)))
        cases.append((f"{year} 9-hour summer", datetime(year, 7, 15, 15, 0, tzinfo=UTC), timedelta(hours=1)))
    return [
        (label, make_view(100 + i, start=start, end=start + length, title=f"DST {label}"))
        for i, (label, start, length) in enumerate(cases)
    ]

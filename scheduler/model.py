"""Domain values of the scheduler: plain frozen data, no I/O.

Every instant is a timezone-aware ``datetime`` in UTC. Wall-clock rules (opening hours,
holidays) are kept in the venue's own IANA zone and converted by :mod:`scheduler.zones`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HH_MM = re.compile(r"[0-2][0-9]:[0-5][0-9]")


class BookingStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Role(enum.StrEnum):
    ENTREPRENEUR = "entrepreneur"
    STAFF = "staff"
    ADMIN = "admin"


@dataclass(frozen=True)
class TimeRange:
    """A half-open UTC range ``[start, end)``."""

    start: datetime
    end: datetime

    def overlaps(self, other: TimeRange) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: TimeRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening hours in local wall-clock time.

    ``weekly[0]`` is Monday. Each day holds sorted, non-overlapping ``(open, close)`` pairs;
    ``close`` of ``time(0, 0)`` means midnight at the end of the day.
    """

    weekly: Mapping[int, tuple[tuple[time, time], ...]]

    def for_weekday(self, weekday: int) -> tuple[tuple[time, time], ...]:
        return self.weekly.get(weekday, ())

    def to_json(self) -> dict[str, list[list[str]]]:
        return {
            WEEKDAYS[day]: [[o.strftime("%H:%M"), c.strftime("%H:%M")] for o, c in self.for_weekday(day)]
            for day in range(7)
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> OpeningHours:
        """Parse ``{"mon": [["09:00", "19:00"]], ...}``; raises ``ValueError`` naming the day."""
        weekly: dict[int, tuple[tuple[time, time], ...]] = {}
        for key, spans in data.items():
            if key not in WEEKDAYS:
                raise ValueError(f"unknown weekday {key!r}; use one of {', '.join(WEEKDAYS)}")
            if not isinstance(spans, list):
                raise ValueError(f"{key}: expected a list of [open, close] pairs")
            parsed: list[tuple[time, time]] = []
            for span in spans:
                if not (isinstance(span, list) and len(span) == 2 and all(isinstance(s, str) for s in span)):
                    raise ValueError(f'{key}: each span must be ["HH:MM", "HH:MM"]')
                try:
                    # HH:MM only: a wall-clock rule has no offset (the venue's zone gives it), and
                    # an aware time cannot be compared with a naive one.
                    if not all(_HH_MM.fullmatch(s) for s in span):
                        raise ValueError
                    opens, closes = (time.fromisoformat(s) for s in span)
                except ValueError:
                    raise ValueError(f"{key}: {span!r} is not a pair of HH:MM times") from None
                if closes != time(0, 0) and closes <= opens:
                    raise ValueError(f"{key}: {span[0]}–{span[1]} closes before it opens")
                parsed.append((opens, closes))
            parsed.sort()
            for (_, c1), (o2, _) in zip(parsed, parsed[1:], strict=False):
                if c1 == time(0, 0) or o2 < c1:
                    raise ValueError(f"{key}: spans overlap")
            weekly[WEEKDAYS.index(key)] = tuple(parsed)
        return cls(weekly)


@dataclass(frozen=True)
class Blackout:
    """A venue closure other than a public holiday, as a UTC range."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True)
class Rules:
    """Booking rules of a venue; the server-wide defaults are the field defaults."""

    grid_minutes: int = 15
    min_duration_minutes: int = 15
    max_duration_minutes: int = 120
    buffer_minutes: int = 10
    min_notice_minutes: int = 120
    max_advance_days: int = 90
    weekly_quota_minutes: int = 240
    #: The longest a session may become, extensions included; nobody can override it.
    max_session_minutes: int = 360
    #: E-mail reminders, in minutes before the start (24 hours and 1 hour); empty: none. A
    #: booking's reminders are those of all its venues together.
    reminder_minutes: tuple[int, ...] = (1440, 60)

    def __post_init__(self) -> None:
        # Venue overrides come from JSON as lists.
        object.__setattr__(self, "reminder_minutes", tuple(sorted(set(self.reminder_minutes), reverse=True)))

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)


@dataclass(frozen=True)
class Venue:
    id: int
    name: str
    city: str
    timezone: str
    country: str
    subdivision: str | None
    opening_hours: OpeningHours
    blackouts: tuple[Blackout, ...] = ()
    rules: Rules = field(default_factory=Rules)
    address: str = ""


@dataclass(frozen=True)
class Booth:
    id: int
    name: str
    venue: Venue


@dataclass(frozen=True)
class Busy:
    """A confirmed booking holding a booth (unbuffered range); the buffer is applied by rules."""

    booth_id: int
    start: datetime
    end: datetime
    booking_id: int


@dataclass(frozen=True)
class BookingRequest:
    """What an organizer asks for, already parsed into UTC."""

    booths: tuple[Booth, ...]
    start: datetime
    end: datetime
    organizer_id: int
    #: The booking being rescheduled, so that its own ranges do not conflict with it.
    replaces_booking_id: int | None = None


@dataclass(frozen=True)
class BookingView:
    """Everything a calendar or an API answer needs to show one booking."""

    id: int
    uid: str
    title: str
    status: BookingStatus
    start: datetime
    end: datetime
    sequence: int
    created_at: datetime
    updated_at: datetime
    organizer_name: str
    organizer_email: str
    organizer_company: str
    guests: tuple[str, ...]
    booths: tuple[Booth, ...]
    organizer_id: int = 0
    override_reason: str | None = None


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    company: str
    role: Role
    #: The venue a staff member works for.
    venue_id: int | None = None


@dataclass(frozen=True)
class Slot:
    """A free common range for every requested booth."""

    start: datetime
    end: datetime

"""Properties: random book/cancel/reschedule sequences keep the calendar sound, and
available_slots agrees with check_booking."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from scheduler.errors import BookingConflict, InvalidInput, RuleViolation
from scheduler.model import BookingRequest, Busy, Rules, TimeRange
from scheduler.rules import available_slots, check_booking
from scheduler.zones import to_local
from tests.scheduler.factories import (
    CANTINE_A,
    CANTINE_B,
    SF_A,
    SF_B,
    SF_TZ,
    busy,
    request,
    sf_venue,
    utc,
    with_venue,
)

# The demo booths, with a tighter weekly quota in San Francisco so that a few operations reach it
# (and the smallest quota of the venues involved is the one that counts).
QUOTA = 120
_SF = sf_venue(rules=Rules(weekly_quota_minutes=QUOTA))
SF_A_, SF_B_ = with_venue(SF_A, _SF), with_venue(SF_B, _SF)
PAIRS = [(CANTINE_A, SF_A_), (CANTINE_A, SF_B_), (CANTINE_B, SF_A_), (CANTINE_B, SF_B_), (SF_A_, CANTINE_A)]
BUFFERS = {booth.id: booth.venue.rules.buffer for booth in (CANTINE_A, CANTINE_B, SF_A_, SF_B_)}
FIRST_DAY = utc(2027, 3, 8)  # three weeks across the US change (14 March) and the EU one (28 March)
DURATIONS = [60, 15, 30, 45, 75, 90, 120, 135, 50, 10]  # shrinks towards a valid 60


@dataclass(frozen=True)
class Book:
    pair: int
    day: int
    minute: int  # minutes after 13:00 UTC
    duration: int
    organizer: int


@dataclass(frozen=True)
class BookNear:
    """Book for the same organizer close to one of their bookings: probes buffers and the quota."""

    index: int
    pair: int
    shift: int  # quarter-hours from the other booking's start
    duration: int


@dataclass(frozen=True)
class Cancel:
    index: int


@dataclass(frozen=True)
class Reschedule:
    index: int
    day: int
    minute: int
    duration: int


weekdays = st.sampled_from([d for d in range(1, 22) if d % 7 < 5])  # Tuesday 9 March first
days = st.one_of(weekdays, st.integers(1, 21).filter(lambda d: d % 7 < 5), st.integers(0, 21))
# 15:00–17:00 UTC, 16:00 first: inside the common window on most days.
in_common_window = st.sampled_from([180, 195, 210, 225, 240, 165, 150, 135, 120])
minutes = st.one_of(
    in_common_window,
    st.integers(8, 16).map(lambda k: 15 * k),
    st.integers(0, 24).map(lambda k: 15 * k),
    st.integers(0, 72).map(lambda k: 5 * k),
)
durations = st.one_of(
    st.sampled_from(DURATIONS[:4]), st.integers(1, 4).map(lambda k: 15 * k), st.sampled_from(DURATIONS)
)
organizers = st.sampled_from([1, 1, 1, 2])  # mostly one organizer, so that the weekly quota bites


def books() -> st.SearchStrategy[Book]:
    return st.builds(Book, st.integers(0, len(PAIRS) - 1), days, minutes, durations, organizers)


def near() -> st.SearchStrategy[BookNear]:
    return st.builds(
        BookNear, st.integers(0, 50), st.integers(0, len(PAIRS) - 1), st.integers(-9, 9), durations
    )


def reschedules() -> st.SearchStrategy[Reschedule]:
    return st.builds(Reschedule, st.integers(0, 50), days, minutes, durations)


# Mostly bookings, so that calendars fill up (one_of weighs distinct strategies alike; equal ones merge).
operations = st.one_of(
    books(),
    books(),
    books(),
    near(),
    near(),
    reschedules(),
    reschedules(),
    st.builds(Cancel, st.integers(0, 50)),
)


def _start(day: int, minute: int) -> datetime:
    return FIRST_DAY + timedelta(days=day, hours=13, minutes=minute)


@dataclass
class Calendar:
    """The in-memory state: confirmed bookings and the instant each was (re)booked."""

    bookings: dict[int, tuple[BookingRequest, datetime]]
    next_id: int = 1

    def busy(self) -> list[Busy]:
        return [
            busy(booth, r.start, r.end, booking_id)
            for booking_id, (r, _) in self.bookings.items()
            for booth in r.booths
        ]

    def organizer(self, organizer_id: int, excluding: int | None = None) -> list[TimeRange]:
        return [
            TimeRange(r.start, r.end)
            for booking_id, (r, _) in self.bookings.items()
            if r.organizer_id == organizer_id and booking_id != excluding
        ]

    def attempt(self, req: BookingRequest, now: datetime, booking_id: int) -> bool:
        try:
            check_booking(req, self.busy(), self.organizer(req.organizer_id, req.replaces_booking_id), now)
        except (InvalidInput, RuleViolation, BookingConflict):
            return False
        self.bookings[booking_id] = (req, now)
        return True


def _check_invariants(calendar: Calendar) -> None:
    held = calendar.busy()
    for i, a in enumerate(held):
        for b in held[i + 1 :]:
            if a.booth_id == b.booth_id:
                buffer = BUFFERS[a.booth_id]
                assert not (a.start < b.end + buffer and b.start < a.end + buffer), (a, b)
    weeks: dict[tuple[int, date], timedelta] = {}
    for req, _ in calendar.bookings.values():  # the quota, counted independently of rules.py
        key = (req.organizer_id, req.start.date() - timedelta(days=req.start.weekday()))
        weeks[key] = weeks.get(key, timedelta()) + (req.end - req.start)
    assert all(total <= timedelta(minutes=QUOTA) for total in weeks.values()), weeks
    for booking_id, (req, created_at) in calendar.bookings.items():
        own = replace(req, replaces_booking_id=booking_id)
        check_booking(own, held, calendar.organizer(req.organizer_id, booking_id), created_at)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(operations, st.integers(0, 12 * 60)), min_size=8, max_size=30))
def test_random_operations_keep_the_calendar_sound(steps: list[tuple[object, int]]) -> None:
    calendar = Calendar({})
    now = utc(2027, 3, 4, 9)
    for operation, wait in steps:
        now += timedelta(minutes=wait)
        ids = sorted(calendar.bookings)
        if isinstance(operation, Book):
            req = request(
                _start(operation.day, operation.minute),
                operation.duration,
                PAIRS[operation.pair],
                organizer=operation.organizer,
            )
            if calendar.attempt(req, now, calendar.next_id):
                calendar.next_id += 1
        elif isinstance(operation, BookNear) and ids:
            anchor, _ = calendar.bookings[ids[operation.index % len(ids)]]
            start = anchor.start + timedelta(minutes=15 * operation.shift)
            if calendar.attempt(
                request(start, operation.duration, PAIRS[operation.pair], organizer=anchor.organizer_id),
                now,
                calendar.next_id,
            ):
                calendar.next_id += 1
        elif isinstance(operation, Cancel) and ids:
            del calendar.bookings[ids[operation.index % len(ids)]]
        elif isinstance(operation, Reschedule) and ids:
            booking_id = ids[operation.index % len(ids)]
            old, _ = calendar.bookings[booking_id]
            moved = replace(
                old,
                start=_start(operation.day, operation.minute),
                end=_start(operation.day, operation.minute) + timedelta(minutes=operation.duration),
                replaces_booking_id=booking_id,
            )
            calendar.attempt(moved, now, booking_id)
        _check_invariants(calendar)
    event(f"bookings kept: {min(len(calendar.bookings), 5)}{'+' if len(calendar.bookings) >= 5 else ''}")


GRID = timedelta(minutes=15)


@settings(max_examples=200, deadline=None)
@given(
    first=st.sampled_from(
        [
            date(2027, 3, 8),
            date(2027, 3, 22),
            date(2027, 10, 25),
            date(2027, 11, 1),
            date(2027, 7, 12),
            date(2026, 3, 2),
            date(2028, 10, 30),
        ]
    ),
    span=st.integers(0, 6),
    duration=st.sampled_from([15, 30, 45, 60, 90, 120]),
    pair=st.sampled_from(PAIRS[:4]),
    now_offset=st.integers(-3 * 24 * 60, 3 * 24 * 60),
    held=st.lists(
        st.tuples(st.sampled_from([CANTINE_A, SF_A, SF_B]), st.integers(0, 7 * 24 * 12), st.integers(1, 36)),
        max_size=12,
    ),
    days_tz=st.sampled_from([None, SF_TZ, "UTC", "Asia/Tokyo"]),
)
def test_availability_agrees_with_check_booking(
    first: date, span: int, duration: int, pair: tuple, now_offset: int, held: list, days_tz: str | None
) -> None:
    base = utc(first.year, first.month, first.day)
    now = base + timedelta(minutes=now_offset)
    ranges = [
        busy(booth, base + k * timedelta(minutes=5), base + (k + n) * timedelta(minutes=5), i)
        for i, (booth, k, n) in enumerate(held)
    ]
    last = first + timedelta(days=span)
    slots = available_slots(pair, first, last, timedelta(minutes=duration), ranges, now, days_tz=days_tz)
    found = {slot.start for slot in slots}
    event(f"slots: {'none' if not slots else 'some' if len(slots) < 20 else 'many'}")
    for slot in slots:  # every slot is bookable
        check_booking(request(slot.start, duration, pair), ranges, [], now)
    zone = days_tz or pair[0].venue.timezone
    candidate = base - timedelta(days=1)
    while candidate < base + timedelta(days=span + 2):  # every bookable start in range is a slot
        if 13 <= candidate.hour <= 19 and first <= to_local(candidate, zone).date() <= last:
            try:
                check_booking(request(candidate, duration, pair), ranges, [], now)
            except (RuleViolation, BookingConflict):
                assert candidate not in found
            else:
                assert candidate in found
        candidate += GRID

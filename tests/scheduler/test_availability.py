"""available_slots: the common window of Paris 09–19 and SF 08–18 across DST, closures, buffers."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from scheduler.closures import holiday_name
from scheduler.errors import BookingConflict, InvalidInput, RuleViolation
from scheduler.model import Blackout, Busy, Rules
from scheduler.rules import available_slots, check_booking
from scheduler.zones import to_local
from tests.scheduler.factories import (
    CANTINE_A,
    CANTINE_B,
    PAIR,
    PARIS_TZ,
    SF_A,
    SF_B,
    SF_TZ,
    busy,
    paris_venue,
    request,
    utc,
    with_venue,
)

HOUR = timedelta(hours=1)


def starts(
    day_from: date,
    day_to: date | None = None,
    *,
    minutes: int = 60,
    held: list[Busy] | None = None,
    now: datetime | None = None,
    booths: tuple = PAIR,
    days_tz: str | None = None,
) -> list[datetime]:
    now = now or utc(day_from.year, day_from.month, day_from.day) - timedelta(days=10)
    slots = available_slots(
        booths, day_from, day_to or day_from, timedelta(minutes=minutes), held or [], now, days_tz=days_tz
    )
    assert all(s.end - s.start == timedelta(minutes=minutes) for s in slots)
    return [s.start for s in slots]


def every(first: datetime, last: datetime, step: int = 15) -> list[datetime]:
    out = []
    while first <= last:
        out.append(first)
        first += timedelta(minutes=step)
    return out


@pytest.mark.parametrize(
    ("day", "first_utc_hour"),
    [
        # 8-hour weeks: SF opens at 08:00 = 16:00 Paris, so starts run 16:00–18:00 Paris.
        pytest.param(date(2026, 3, 10), 15, id="2026-spring-8h"),
        pytest.param(date(2026, 10, 27), 15, id="2026-autumn-8h"),
        pytest.param(date(2027, 3, 16), 15, id="2027-spring-8h"),
        pytest.param(date(2027, 11, 2), 15, id="2027-autumn-8h"),
        pytest.param(date(2028, 3, 14), 15, id="2028-spring-8h"),
        pytest.param(date(2028, 10, 31), 15, id="2028-autumn-8h"),
        # 9-hour weeks: 17:00–18:00 Paris; in summer Paris is UTC+2, in winter UTC+1.
        pytest.param(date(2026, 3, 3), 16, id="2026-winter-9h"),
        pytest.param(date(2027, 3, 9), 16, id="2027-winter-9h"),
        pytest.param(date(2027, 11, 9), 16, id="2027-winter-after-us-change"),
        pytest.param(date(2028, 3, 7), 16, id="2028-winter-9h"),
        pytest.param(date(2027, 6, 15), 15, id="2027-summer-9h"),
    ],
)
def test_common_window_across_dst(day: date, first_utc_hour: int) -> None:
    paris_offset = to_local(utc(day.year, day.month, day.day, 12), PARIS_TZ).utcoffset()
    sf_offset = to_local(utc(day.year, day.month, day.day, 12), SF_TZ).utcoffset()
    assert paris_offset is not None and sf_offset is not None
    gap = (paris_offset - sf_offset) / HOUR
    first = utc(day.year, day.month, day.day, first_utc_hour)
    last = (
        utc(day.year, day.month, day.day, 17)
        if paris_offset == HOUR
        else utc(day.year, day.month, day.day, 16)
    )
    assert starts(day) == every(first, last)
    assert len(starts(day)) == (9 if gap == 8 else 5)
    first_paris = to_local(first, PARIS_TZ)
    assert first_paris.hour == (16 if gap == 8 else 17)
    assert to_local(first, SF_TZ).hour == 8


def test_a_whole_week_has_no_weekend_slots() -> None:
    found = starts(date(2027, 3, 15), date(2027, 3, 21))
    assert len(found) == 5 * 9
    assert {to_local(s, PARIS_TZ).weekday() for s in found} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize(
    ("day_from", "day_to", "closed", "open_days"),
    [
        (date(2027, 7, 12), date(2027, 7, 16), date(2027, 7, 14), 4),  # 14 juillet
        (date(2026, 4, 27), date(2026, 5, 8), date(2026, 5, 1), 8),  # 1 mai and 8 mai 2026
        (date(2027, 11, 22), date(2027, 11, 26), date(2027, 11, 25), 3),  # Thanksgiving and the day after
        (date(2027, 3, 29), date(2027, 4, 2), date(2027, 3, 31), 3),  # Lundi de Pâques, Cesar Chavez Day
        (date(2027, 7, 1), date(2027, 7, 9), date(2027, 7, 5), 6),  # July 4th observed on Monday the 5th
    ],
)
def test_no_slots_on_holidays(day_from: date, day_to: date, closed: date, open_days: int) -> None:
    found = starts(day_from, day_to)
    days = {to_local(s, PARIS_TZ).date() for s in found}
    assert closed not in days
    assert len(days) == open_days
    for s in found:
        for booth in PAIR:
            assert holiday_name(booth.venue, to_local(s, booth.venue.timezone).date()) is None


def test_blackout_blocks_starts() -> None:
    drill = Blackout(utc(2027, 3, 16, 15, 30), utc(2027, 3, 16, 16, 30), "Fire drill")
    booths = (with_venue(CANTINE_A, paris_venue(blackouts=[drill])), SF_A)
    assert starts(date(2027, 3, 16), booths=booths) == every(utc(2027, 3, 16, 16, 30), utc(2027, 3, 16, 17))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2027, 3, 16, 14, 30), every(utc(2027, 3, 16, 16, 30), utc(2027, 3, 16, 17))),  # notice
        (utc(2027, 3, 16, 14, 29), every(utc(2027, 3, 16, 16, 30), utc(2027, 3, 16, 17))),
        (utc(2027, 3, 16, 14, 31), every(utc(2027, 3, 16, 16, 45), utc(2027, 3, 16, 17))),
        (
            utc(2027, 3, 16, 16, 30) - timedelta(days=90),
            every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 16, 30)),
        ),
        (utc(2027, 3, 16, 17, 0) - timedelta(days=91), []),  # too far ahead
        (utc(2027, 3, 16, 18), []),  # all past
    ],
)
def test_notice_and_advance(now: datetime, expected: list[datetime]) -> None:
    assert starts(date(2027, 3, 16), now=now) == expected


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        # SF A busy 16:00–16:30Z blocks every start in (14:50, 16:40): 10-min buffer, 60-min session.
        (
            [busy(SF_A, utc(2027, 3, 16, 16), utc(2027, 3, 16, 16, 30))],
            [utc(2027, 3, 16, 16, 45), utc(2027, 3, 16, 17)],
        ),
        # Cantine A busy 17:30–18:00Z blocks (16:20, 18:10).
        (
            [busy(CANTINE_A, utc(2027, 3, 16, 17, 30), utc(2027, 3, 16, 18))],
            every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 16, 15)),
        ),
        # Ending exactly 10 minutes before a start leaves it free; 9 minutes does not.
        (
            [busy(SF_A, utc(2027, 3, 16, 14), utc(2027, 3, 16, 14, 50))],
            every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 17)),
        ),
        (
            [busy(SF_A, utc(2027, 3, 16, 14), utc(2027, 3, 16, 14, 51))],
            every(utc(2027, 3, 16, 15, 15), utc(2027, 3, 16, 17)),
        ),
        # Other booths do not matter.
        (
            [
                busy(SF_B, utc(2027, 3, 16, 15), utc(2027, 3, 16, 18)),
                busy(CANTINE_B, utc(2027, 3, 16, 15), utc(2027, 3, 16, 18)),
            ],
            every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 17)),
        ),
    ],
)
def test_busy_ranges_with_buffer(held: list[Busy], expected: list[datetime]) -> None:
    assert starts(date(2027, 3, 16), held=held) == expected


@pytest.mark.parametrize(
    ("days_tz", "day", "expected"),
    [
        (None, date(2027, 3, 16), every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 17))),
        (SF_TZ, date(2027, 3, 16), every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 17))),
        ("UTC", date(2027, 3, 16), every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 17))),
        # Tokyo (UTC+9): Paris Monday's slots fall on Tokyo Tuesday, from 00:00 exactly.
        ("Asia/Tokyo", date(2027, 3, 16), every(utc(2027, 3, 15, 15), utc(2027, 3, 15, 17))),
        # UTC+8: a day boundary at 16:00Z splits each Paris afternoon in two.
        (
            "Etc/GMT-8",
            date(2027, 3, 16),
            every(utc(2027, 3, 15, 16), utc(2027, 3, 15, 17))
            + every(utc(2027, 3, 16, 15), utc(2027, 3, 16, 15, 45)),
        ),
    ],
)
def test_days_tz_boundary(days_tz: str | None, day: date, expected: list[datetime]) -> None:
    assert starts(day, now=utc(2027, 3, 1), days_tz=days_tz) == expected


@pytest.mark.parametrize(
    ("minutes", "day_from", "day_to", "field", "code"),
    [
        (50, date(2027, 3, 16), date(2027, 3, 16), "duration", "duration"),
        (10, date(2027, 3, 16), date(2027, 3, 16), "duration", "duration"),
        (135, date(2027, 3, 16), date(2027, 3, 16), "duration", "duration"),
        (60, date(2027, 3, 16), date(2027, 3, 15), "to", "date_range"),
        (60, date(2027, 3, 1), date(2027, 3, 1) + timedelta(days=92), "to", "date_range"),
    ],
)
def test_invalid_queries(minutes: int, day_from: date, day_to: date, field: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        available_slots(PAIR, day_from, day_to, timedelta(minutes=minutes), [], utc(2027, 3, 1))
    assert (caught.value.field, caught.value.code) == (field, code)


def test_invalid_booths_and_zone() -> None:
    with pytest.raises(InvalidInput) as caught:
        available_slots(
            (CANTINE_A, CANTINE_B), date(2027, 3, 16), date(2027, 3, 16), HOUR, [], utc(2027, 3, 1)
        )
    assert caught.value.code == "same_venue"
    with pytest.raises(InvalidInput) as caught:
        available_slots(
            PAIR, date(2027, 3, 16), date(2027, 3, 16), HOUR, [], utc(2027, 3, 1), days_tz="Nowhere/Nope"
        )
    assert caught.value.code == "unknown_timezone"
    with pytest.raises(ValueError):
        available_slots(PAIR, date(2027, 3, 16), date(2027, 3, 16), HOUR, [], datetime(2027, 3, 1))


def test_92_days_is_the_longest_range() -> None:
    found = starts(date(2027, 3, 1), date(2027, 3, 1) + timedelta(days=91), now=utc(2027, 2, 28))
    assert found and max(found) <= utc(2027, 2, 28) + timedelta(days=90)


def test_a_single_booth_uses_its_own_hours() -> None:
    assert starts(date(2027, 3, 16), booths=(SF_A,), minutes=120) == every(
        utc(2027, 3, 16, 15), utc(2027, 3, 16, 23)
    )


def test_largest_grid_wins() -> None:
    coarse = with_venue(CANTINE_A, paris_venue(rules=Rules(grid_minutes=30, min_duration_minutes=30)))
    assert starts(date(2027, 3, 16), booths=(coarse, SF_A)) == every(
        utc(2027, 3, 16, 15), utc(2027, 3, 16, 17), 30
    )
    with pytest.raises(InvalidInput):
        starts(date(2027, 3, 16), booths=(coarse, SF_A), minutes=45)


def _random_busy(rng: random.Random, first: datetime, days: int, count: int) -> list[Busy]:
    held = []
    for i in range(count):
        start = first + timedelta(
            days=rng.randrange(days), hours=rng.randrange(13, 19), minutes=5 * rng.randrange(12)
        )
        booth = rng.choice((CANTINE_A, SF_A, SF_B))
        held.append(busy(booth, start, start + timedelta(minutes=5 * rng.randrange(3, 25)), booking_id=i))
    return held


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("minutes", [15, 60, 120])
def test_agrees_with_check_booking_on_every_start(seed: int, minutes: int) -> None:
    """Over a week, exactly the 15-minute starts that check_booking accepts are available."""
    rng = random.Random(seed)
    now = utc(2027, 3, 10, 13, 7)
    held = _random_busy(rng, utc(2027, 3, 10), 7, 12)
    available = set(starts(date(2027, 3, 10), date(2027, 3, 16), minutes=minutes, held=held, now=now))
    accepted = set()
    for candidate in every(utc(2027, 3, 9, 23), utc(2027, 3, 16, 22, 45)):
        try:
            check_booking(request(candidate, minutes), held, [], now)
        except (RuleViolation, BookingConflict):
            continue
        accepted.add(candidate)
    assert available == accepted


def test_ninety_days_spanning_dst_all_pass_check_booking() -> None:
    now = utc(2027, 2, 20, 9)
    held = _random_busy(random.Random(7), utc(2027, 2, 22), 88, 40)
    slots = available_slots(PAIR, date(2027, 2, 22), date(2027, 5, 21), HOUR, held, now)
    assert len({to_local(s.start, PARIS_TZ).date() for s in slots}) > 50
    for slot in slots:
        check_booking(request(slot.start, 60), held, [], now)

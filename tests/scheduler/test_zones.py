"""Wall-clock conversions around the DST changes of 2026–2028 in Paris and San Francisco."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from scheduler.errors import InvalidInput, LocalTimeError
from scheduler.model import TimeRange
from scheduler.zones import is_known_zone, local_span_to_utc, to_local, to_utc, utc_offset_iso
from tests.scheduler.factories import PARIS_TZ, SF_TZ, utc

# (year, US spring, EU spring, EU autumn, US autumn). EU: last Sunday of March/October at
# 01:00 UTC; US: second Sunday of March and first Sunday of November at 02:00 local.
DST_DAYS = [
    (2026, date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25), date(2026, 11, 1)),
    (2027, date(2027, 3, 14), date(2027, 3, 28), date(2027, 10, 31), date(2027, 11, 7)),
    (2028, date(2028, 3, 12), date(2028, 3, 26), date(2028, 10, 29), date(2028, 11, 5)),
]
US_SPRING = [row[1] for row in DST_DAYS]
EU_SPRING = [row[2] for row in DST_DAYS]
EU_AUTUMN = [row[3] for row in DST_DAYS]
US_AUTUMN = [row[4] for row in DST_DAYS]


def offset_hours(instant: datetime, tz: str) -> float:
    offset = to_local(instant, tz).utcoffset()
    assert offset is not None
    return offset / timedelta(hours=1)


@pytest.mark.parametrize("day", EU_SPRING + EU_AUTUMN + US_SPRING + US_AUTUMN)
def test_dst_days_are_sundays(day: date) -> None:
    assert day.weekday() == 6


@pytest.mark.parametrize(
    ("tz", "instant", "before", "after"),
    [(PARIS_TZ, datetime.combine(d, time(1)), 1, 2) for d in EU_SPRING]
    + [(PARIS_TZ, datetime.combine(d, time(1)), 2, 1) for d in EU_AUTUMN]
    + [(SF_TZ, datetime.combine(d, time(10)), -8, -7) for d in US_SPRING]  # 02:00 PST
    + [(SF_TZ, datetime.combine(d, time(9)), -7, -8) for d in US_AUTUMN],  # 02:00 PDT
)
def test_transition_instants(tz: str, instant: datetime, before: int, after: int) -> None:
    at = utc(instant.year, instant.month, instant.day, instant.hour)
    assert offset_hours(at - timedelta(seconds=1), tz) == before
    assert offset_hours(at, tz) == after


def _paris_17_in_sf(day: date) -> int:
    return to_local(to_utc(datetime.combine(day, time(17)), PARIS_TZ), SF_TZ).hour


@pytest.mark.parametrize(
    ("day", "sf_hour"),
    [
        pytest.param(day, hour, id=f"{day}-{hour:02}h")
        for _, us_spring, eu_spring, eu_autumn, us_autumn in DST_DAYS
        for day, hour in [
            (us_spring - timedelta(days=1), 8),  # 9 hours: both on standard time
            (us_spring, 9),  # 8 hours from the US change ...
            (us_spring + timedelta(days=2), 9),  # ... through the week ...
            (eu_spring - timedelta(days=1), 9),  # ... to the EU change
            (eu_spring, 8),
            (date(us_spring.year, 6, 15), 8),  # summer: 9 hours
            (eu_autumn - timedelta(days=1), 8),
            (eu_autumn, 9),  # the autumn 8-hour week
            (eu_autumn + timedelta(days=3), 9),
            (us_autumn - timedelta(days=1), 9),
            (us_autumn, 8),
            (date(us_spring.year, 1, 15), 8),
        ]
    ],
)
def test_paris_17h_in_san_francisco(day: date, sf_hour: int) -> None:
    assert _paris_17_in_sf(day) == sf_hour


@pytest.mark.parametrize(
    ("local", "tz", "expected"),
    [
        (datetime(2027, 3, 20, 17), PARIS_TZ, utc(2027, 3, 20, 16)),
        (datetime(2027, 7, 14, 17), PARIS_TZ, utc(2027, 7, 14, 15)),
        (datetime(2027, 3, 12, 8), SF_TZ, utc(2027, 3, 12, 16)),
        (datetime(2027, 3, 15, 8), SF_TZ, utc(2027, 3, 15, 15)),
        (datetime(2027, 3, 28, 1, 59), PARIS_TZ, utc(2027, 3, 28, 0, 59)),
        (datetime(2027, 3, 28, 3, 0), PARIS_TZ, utc(2027, 3, 28, 1, 0)),
        (datetime(2027, 10, 31, 3, 0), PARIS_TZ, utc(2027, 10, 31, 2, 0)),
        (datetime(2027, 11, 7, 2, 0), SF_TZ, utc(2027, 11, 7, 10, 0)),
    ],
)
def test_to_utc(local: datetime, tz: str, expected: datetime) -> None:
    assert to_utc(local, tz) == expected
    assert to_local(expected, tz).replace(tzinfo=None) == local


@pytest.mark.parametrize(
    ("local", "tz"),
    [(datetime.combine(d, time(2, 30)), PARIS_TZ) for d in EU_SPRING]
    + [(datetime.combine(d, time(2, 30)), SF_TZ) for d in US_SPRING]
    + [(datetime.combine(d, time(2, 0)), PARIS_TZ) for d in EU_SPRING],
)
def test_nonexistent_local_time(local: datetime, tz: str) -> None:
    with pytest.raises(LocalTimeError) as caught:
        to_utc(local, tz, field="starts_at")
    error = caught.value
    assert (error.code, error.field) == ("nonexistent_local_time", "starts_at")
    assert f"{local:%Y-%m-%d %H:%M} does not exist in {tz}" in error.message
    assert "clocks jump from 02:00 to 03:00" in error.message


@pytest.mark.parametrize(
    ("local", "tz", "first", "second"),
    [(datetime.combine(d, time(2, 30)), PARIS_TZ, "+02:00", "+01:00") for d in EU_AUTUMN]
    + [(datetime.combine(d, time(1, 30)), SF_TZ, "-07:00", "-08:00") for d in US_AUTUMN],
)
def test_ambiguous_local_time(local: datetime, tz: str, first: str, second: str) -> None:
    with pytest.raises(LocalTimeError) as caught:
        to_utc(local, tz)
    error = caught.value
    assert (error.code, error.field) == ("ambiguous_local_time", "start")
    assert "happens twice" in error.message and tz in error.message
    assert "explicit UTC offset" in error.message
    assert f"{local:%Y-%m-%dT%H:%M}{first} (first)" in error.message
    assert f"{local:%Y-%m-%dT%H:%M}{second} (second)" in error.message


@pytest.mark.parametrize(
    ("local", "tz", "message"),
    [
        (
            datetime(2027, 3, 28, 2, 30),
            PARIS_TZ,
            "2027-03-28 02:30 does not exist in Europe/Paris: clocks jump from 02:00 to 03:00",
        ),
        (datetime(2027, 11, 7, 1, 30), SF_TZ, "clocks go back from 02:00 to 01:00"),
        (datetime(2027, 10, 31, 2, 30), PARIS_TZ, "clocks go back from 03:00 to 02:00"),
        # Not every change is an hour: Lord Howe Island moves by 30 minutes.
        (datetime(2027, 10, 3, 2, 15), "Australia/Lord_Howe", "clocks jump from 02:00 to 02:30"),
        (datetime(2027, 4, 4, 1, 45), "Australia/Lord_Howe", "clocks go back from 02:00 to 01:30"),
    ],
)
def test_messages_say_what_the_clocks_do(local: datetime, tz: str, message: str) -> None:
    with pytest.raises(LocalTimeError, match=message):
        to_utc(local, tz)


@pytest.mark.parametrize("tz", ["Europe/Pariss", "Mars/Olympus_Mons", "", "+01:00"])
def test_unknown_zone(tz: str) -> None:
    assert not is_known_zone(tz)
    with pytest.raises(InvalidInput) as caught:
        to_utc(datetime(2027, 1, 1), tz)
    assert caught.value.code == "unknown_timezone"
    with pytest.raises(InvalidInput):
        to_local(utc(2027, 1, 1), tz)


@pytest.mark.parametrize("tz", [PARIS_TZ, SF_TZ, "UTC", "Asia/Kolkata"])
def test_known_zone(tz: str) -> None:
    assert is_known_zone(tz)


def test_naive_and_aware_misuse_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        to_utc(utc(2027, 1, 1), PARIS_TZ)
    with pytest.raises(ValueError):
        to_local(datetime(2027, 1, 1), PARIS_TZ)


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (utc(2027, 3, 20, 16), PARIS_TZ, "2027-03-20T17:00:00+01:00"),
        (utc(2027, 3, 20, 16), SF_TZ, "2027-03-20T09:00:00-07:00"),
        (utc(2027, 1, 20, 16), SF_TZ, "2027-01-20T08:00:00-08:00"),
        (utc(2027, 7, 14, 15, 30), PARIS_TZ, "2027-07-14T17:30:00+02:00"),
        (utc(2027, 10, 31, 0, 30), PARIS_TZ, "2027-10-31T02:30:00+02:00"),
        (utc(2027, 10, 31, 1, 30), PARIS_TZ, "2027-10-31T02:30:00+01:00"),
    ],
)
def test_utc_offset_iso(instant: datetime, tz: str, expected: str) -> None:
    assert utc_offset_iso(instant, tz) == expected


@pytest.mark.parametrize(
    ("day", "opens", "closes", "tz", "expected"),
    [
        # Ordinary days, before and after the US change: SF 08–18 moves by an hour in UTC.
        (date(2027, 3, 16), time(9), time(19), PARIS_TZ, (utc(2027, 3, 16, 8), utc(2027, 3, 16, 18))),
        (date(2027, 3, 12), time(8), time(18), SF_TZ, (utc(2027, 3, 12, 16), utc(2027, 3, 13, 2))),
        (date(2027, 3, 15), time(8), time(18), SF_TZ, (utc(2027, 3, 15, 15), utc(2027, 3, 16, 1))),
        # Closing at 00:00 is the end of the day; DST days last 23 and 25 hours.
        (date(2027, 3, 16), time(0), time(0), PARIS_TZ, (utc(2027, 3, 15, 23), utc(2027, 3, 16, 23))),
        (date(2027, 3, 28), time(0), time(0), PARIS_TZ, (utc(2027, 3, 27, 23), utc(2027, 3, 28, 22))),
        (date(2027, 10, 31), time(0), time(0), PARIS_TZ, (utc(2027, 10, 30, 22), utc(2027, 10, 31, 23))),
        (date(2027, 11, 7), time(0), time(0), SF_TZ, (utc(2027, 11, 7, 7), utc(2027, 11, 8, 8))),
        # Nonexistent: the first instant that exists, the jump itself (03:00 CEST = 01:00 UTC).
        (date(2027, 3, 28), time(2, 30), time(4), PARIS_TZ, (utc(2027, 3, 28, 1), utc(2027, 3, 28, 2))),
        (date(2027, 3, 28), time(1), time(2, 30), PARIS_TZ, (utc(2027, 3, 28, 0), utc(2027, 3, 28, 1))),
        (date(2027, 3, 14), time(2, 15), time(3, 0), SF_TZ, (utc(2027, 3, 14, 10), utc(2027, 3, 14, 10))),
        # Ambiguous: opens at the first occurrence, closes at the second.
        (
            date(2027, 10, 31),
            time(2, 30),
            time(2, 45),
            PARIS_TZ,
            (utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 45)),
        ),
        (date(2027, 11, 7), time(1), time(1, 30), SF_TZ, (utc(2027, 11, 7, 8), utc(2027, 11, 7, 9, 30))),
    ],
)
def test_local_span_to_utc(
    day: date, opens: time, closes: time, tz: str, expected: tuple[datetime, datetime]
) -> None:
    assert local_span_to_utc(day, opens, closes, tz) == TimeRange(*expected)

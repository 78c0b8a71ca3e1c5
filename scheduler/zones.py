"""Wall-clock time in IANA zones: the only module of the project that imports pytz.

Instants are aware UTC ``datetime`` values everywhere else. This module turns a local wall time
into an instant and back, and says clearly when a wall time does not exist (clocks spring
forward) or happens twice (clocks fall back).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import pytz

from .errors import InvalidInput, LocalTimeError
from .model import TimeRange

__all__ = ["is_known_zone", "local_span_to_utc", "to_local", "to_utc", "utc_offset_iso"]


@lru_cache(maxsize=64)
def _zone(tz: str) -> pytz.BaseTzInfo:
    try:
        return pytz.timezone(tz)
    except (pytz.UnknownTimeZoneError, AttributeError, TypeError, ValueError):
        raise InvalidInput(
            f"{tz!r} is not a known IANA time zone (e.g. Europe/Paris, America/Los_Angeles)",
            field="timezone",
            code="unknown_timezone",
        ) from None


def is_known_zone(tz: str) -> bool:
    """Whether ``tz`` names an IANA zone that pytz knows."""
    try:
        _zone(tz)
    except InvalidInput:
        return False
    return True


def _require_naive(local: datetime) -> None:
    if local.tzinfo is not None:
        raise ValueError(f"expected a naive wall-clock time, got {local.isoformat()}")


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected an aware instant, got naive {instant.isoformat()}")


def _utc_offset(zone: pytz.BaseTzInfo, naive_utc: datetime) -> timedelta:
    offset = naive_utc.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _transition(zone: pytz.BaseTzInfo, local: datetime) -> tuple[datetime, timedelta, timedelta]:
    """The naive UTC instant of the change that skips or repeats ``local``, with the offsets
    in force before and after it."""
    readings = [zone.localize(local, is_dst=dst).utcoffset() or timedelta() for dst in (False, True)]
    lo, hi = local - max(readings), local - min(readings)  # just before and at/after the change
    before, after = _utc_offset(zone, lo), _utc_offset(zone, hi)
    while hi - lo > timedelta(seconds=1):  # bisect to the first second on the new offset
        mid = (lo + (hi - lo) / 2).replace(microsecond=0)
        if _utc_offset(zone, mid) == after:
            hi = mid
        else:
            lo = mid
    return hi, before, after


def _hm(value: datetime) -> str:
    return value.strftime("%H:%M") if value.second == 0 else value.strftime("%H:%M:%S")


def to_utc(local: datetime, tz: str, *, field: str = "start") -> datetime:
    """Turn a naive wall time in ``tz`` into an aware UTC instant.

    Raises :class:`LocalTimeError` with code ``nonexistent_local_time`` when the clocks skip
    ``local`` and ``ambiguous_local_time`` when it happens twice, and :class:`InvalidInput`
    ``unknown_timezone`` for an unknown zone. ``field`` names the input in those errors.
    """
    _require_naive(local)
    zone = _zone(tz)
    try:
        return zone.localize(local, is_dst=None).astimezone(UTC)
    except pytz.NonExistentTimeError:
        at, before, after = _transition(zone, local)
        raise LocalTimeError(
            f"{local:%Y-%m-%d} {_hm(local)} does not exist in {tz}: clocks jump from "
            f"{_hm(at + before)} to {_hm(at + after)}",
            field=field,
            code="nonexistent_local_time",
        ) from None
    except pytz.AmbiguousTimeError:
        at, before, after = _transition(zone, local)
        first = zone.localize(local, is_dst=before > after).isoformat(timespec="minutes")
        second = zone.localize(local, is_dst=before < after).isoformat(timespec="minutes")
        raise LocalTimeError(
            f"{local:%Y-%m-%d} {_hm(local)} happens twice in {tz}: clocks go back from "
            f"{_hm(at + before)} to {_hm(at + after)}; give an explicit UTC offset, "
            f"{first} (first) or {second} (second)",
            field=field,
            code="ambiguous_local_time",
        ) from None


def to_local(instant: datetime, tz: str) -> datetime:
    """The aware wall time of ``instant`` in ``tz`` (normalized, with the right offset)."""
    _require_aware(instant)
    zone = _zone(tz)
    return zone.normalize(instant.astimezone(zone))


def utc_offset_iso(instant: datetime, tz: str) -> str:
    """``instant`` as ISO 8601 local time with its offset, e.g. ``2027-03-20T17:00:00+01:00``."""
    return to_local(instant, tz).isoformat(timespec="seconds")


def _lenient(local: datetime, zone: pytz.BaseTzInfo, *, first: bool) -> datetime:
    try:
        return zone.localize(local, is_dst=None).astimezone(UTC)
    except pytz.NonExistentTimeError:
        at, _, _ = _transition(zone, local)
        return at.replace(tzinfo=UTC)
    except pytz.AmbiguousTimeError:
        both = [zone.localize(local, is_dst=d).astimezone(UTC) for d in (True, False)]
        return min(both) if first else max(both)


@lru_cache(maxsize=8192)  # opening hours of a few venues over a few months; pytz is slow
def local_span_to_utc(day: date, opens: time, closes: time, tz: str) -> TimeRange:
    """The UTC range of the local wall-clock span ``opens``–``closes`` on ``day`` in ``tz``.

    ``closes == time(0, 0)`` means midnight at the end of ``day``. Opening hours must never
    fail on a DST day, so this is lenient, by choice:

    * a wall time that does not exist (spring forward) maps to the first instant that exists
      after it, the moment of the jump (02:30 on a Paris spring-forward day becomes 03:00);
    * a wall time that happens twice (fall back) maps to its first occurrence when it opens
      and to its second when it closes, so the span covers every instant showing those hours.

    The result may be empty (``start == end``) when the whole span falls in a gap.
    """
    zone = _zone(tz)
    start = _lenient(datetime.combine(day, opens), zone, first=True)
    end_day = day + timedelta(days=1) if closes == time(0, 0) else day
    end = _lenient(datetime.combine(end_day, closes), zone, first=False)
    return TimeRange(start, max(start, end))

"""When a venue is closed: public holidays of its country (and state) and its blackouts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from .errors import InvalidInput
from .model import TimeRange, Venue
from .zones import local_span_to_utc, to_local

__all__ = ["closure_ranges", "holiday_name"]


@lru_cache(maxsize=128)
def _calendar(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    """Holidays of one year, named in the country's own language ("Fête nationale").

    The language is explicit so that names do not depend on the server's LANG.
    """
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    language = getattr(calendar, "default_language", None)
    if language:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year, language=language)
    return calendar


def holiday_name(venue: Venue, day: date) -> str | None:
    """The name of the public holiday on local ``day`` at ``venue``, or ``None``."""
    name = _calendar(venue.country, venue.subdivision, day.year).get(day)
    return str(name) if name is not None else None


def closure_ranges(venue: Venue, start_utc: datetime, end_utc: datetime) -> list[tuple[TimeRange, str]]:
    """Every closure of ``venue`` overlapping ``[start_utc, end_utc)``, sorted by start.

    A public holiday closes the whole local day (midnight to midnight in the venue's zone);
    the reason is the holiday's name. A blackout keeps its own range and reason.
    """
    window = TimeRange(start_utc, end_utc)
    found: list[tuple[TimeRange, str]] = []
    day = to_local(start_utc, venue.timezone).date()
    last = to_local(end_utc, venue.timezone).date()
    while day <= last:
        name = holiday_name(venue, day)
        if name is not None:
            whole_day = local_span_to_utc(day, time(0, 0), time(0, 0), venue.timezone)
            if whole_day.overlaps(window):
                found.append((whole_day, name))
        day += timedelta(days=1)
    for blackout in venue.blackouts:
        closed = TimeRange(blackout.start, blackout.end)
        if closed.overlaps(window):
            found.append((closed, blackout.reason))
    found.sort(key=lambda item: (item[0].start, item[0].end))
    return found


def check_region(country: str, subdivision: str | None) -> None:
    """Refuse a country or subdivision whose public holidays are unknown, naming the field."""
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise InvalidInput(
            f"country {country!r} has no public-holiday calendar; use an ISO 3166 code such as FR or US",
            field="country",
        )
    if subdivision is not None and subdivision not in supported[country]:
        raise InvalidInput(
            f"subdivision {subdivision!r} is not one of {country}'s: {', '.join(supported[country][:12])}…",
            field="subdivision",
        )

"""Public holidays of France and California, and blackouts, as closures."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from scheduler.closures import closure_ranges, holiday_name
from scheduler.model import Blackout, TimeRange, Venue
from tests.scheduler.factories import PARIS, SF, paris_venue, sf_venue, utc


@pytest.mark.parametrize(
    ("venue", "day", "name"),
    [
        (PARIS, date(2027, 7, 14), "Fête nationale"),
        (PARIS, date(2026, 7, 14), "Fête nationale"),
        (PARIS, date(2027, 5, 1), "Fête du Travail"),
        (PARIS, date(2027, 5, 8), "Fête de la Victoire"),
        (PARIS, date(2027, 3, 29), "Lundi de Pâques"),
        (PARIS, date(2028, 12, 25), "Noël"),
        (PARIS, date(2027, 11, 25), None),  # Thanksgiving is not a French holiday
        (PARIS, date(2027, 7, 4), None),
        (PARIS, date(2027, 3, 16), None),
        (SF, date(2027, 11, 25), "Thanksgiving Day"),
        (SF, date(2026, 11, 26), "Thanksgiving Day"),
        (SF, date(2028, 11, 23), "Thanksgiving Day"),
        (SF, date(2027, 7, 4), "Independence Day"),
        (SF, date(2027, 7, 5), "Independence Day (observed)"),
        (SF, date(2027, 3, 31), "Cesar Chavez Day"),  # a California state holiday
        (SF, date(2027, 7, 14), None),  # 14 juillet is not an American holiday
        (SF, date(2027, 5, 8), None),
        (SF, date(2027, 3, 16), None),
    ],
)
def test_holiday_name(venue: Venue, day: date, name: str | None) -> None:
    assert holiday_name(venue, day) == name


def test_state_holidays_need_the_subdivision() -> None:
    federal_only = replace(SF, subdivision=None)
    assert holiday_name(federal_only, date(2027, 3, 31)) is None
    assert holiday_name(SF, date(2027, 3, 31)) == "Cesar Chavez Day"


RENOVATION = Blackout(utc(2027, 3, 16, 10), utc(2027, 3, 16, 12), "Renovation of the booths")
LATE_EVENT = Blackout(utc(2027, 7, 20, 16), utc(2027, 7, 21, 2), "Demo night")


@pytest.mark.parametrize(
    ("venue", "start", "end", "expected"),
    [
        # 14 juillet closes the whole Paris day: 00:00–24:00 CEST is 22:00Z–22:00Z.
        (
            PARIS,
            utc(2027, 7, 12),
            utc(2027, 7, 17),
            [(TimeRange(utc(2027, 7, 13, 22), utc(2027, 7, 14, 22)), "Fête nationale")],
        ),
        # Window touching only the end of the holiday still sees it; one ending at its start does not.
        (
            PARIS,
            utc(2027, 7, 14, 21),
            utc(2027, 7, 14, 23),
            [(TimeRange(utc(2027, 7, 13, 22), utc(2027, 7, 14, 22)), "Fête nationale")],
        ),
        (PARIS, utc(2027, 7, 13, 12), utc(2027, 7, 13, 22), []),
        # Thanksgiving and the day after, in Pacific time (PST, UTC−8).
        (
            SF,
            utc(2027, 11, 22),
            utc(2027, 11, 29),
            [
                (TimeRange(utc(2027, 11, 25, 8), utc(2027, 11, 26, 8)), "Thanksgiving Day"),
                (TimeRange(utc(2027, 11, 26, 8), utc(2027, 11, 27, 8)), "Day After Thanksgiving"),
            ],
        ),
        # July 4th 2027 is a Sunday, observed Monday the 5th; PDT is UTC−7.
        (
            SF,
            utc(2027, 7, 3),
            utc(2027, 7, 6),
            [
                (TimeRange(utc(2027, 7, 4, 7), utc(2027, 7, 5, 7)), "Independence Day"),
                (TimeRange(utc(2027, 7, 5, 7), utc(2027, 7, 6, 7)), "Independence Day (observed)"),
            ],
        ),
        (PARIS, utc(2027, 3, 15), utc(2027, 3, 20), []),
        (
            paris_venue(blackouts=[RENOVATION, LATE_EVENT]),
            utc(2027, 3, 15),
            utc(2027, 3, 20),
            [(TimeRange(RENOVATION.start, RENOVATION.end), "Renovation of the booths")],
        ),
        (
            paris_venue(blackouts=[LATE_EVENT]),
            utc(2027, 7, 10),
            utc(2027, 7, 25),
            [
                (TimeRange(utc(2027, 7, 13, 22), utc(2027, 7, 14, 22)), "Fête nationale"),
                (TimeRange(LATE_EVENT.start, LATE_EVENT.end), "Demo night"),
            ],
        ),
        (sf_venue(blackouts=[RENOVATION]), utc(2027, 3, 16, 12), utc(2027, 3, 16, 13), []),
    ],
)
def test_closure_ranges(
    venue: Venue, start: datetime, end: datetime, expected: list[tuple[TimeRange, str]]
) -> None:
    assert closure_ranges(venue, start, end) == expected

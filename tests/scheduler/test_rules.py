"""check_booking: structure, every rule code, override, buffers, reschedules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from scheduler.errors import BookingConflict, Conflict, InvalidInput, RuleViolation
from scheduler.model import Blackout, BookingRequest, Booth, Busy, Rules, TimeRange
from scheduler.rules import check_booking
from tests.scheduler.factories import (
    CANTINE_A,
    CANTINE_B,
    PAIR,
    PARIS,
    SF_A,
    SF_B,
    busy,
    paris_venue,
    request,
    utc,
    week_of,
    with_venue,
)

# Tue 16 March 2027 is in the spring 8-hour week: 16:00Z = 17:00 Paris = 09:00 San Francisco.
START = utc(2027, 3, 16, 16)
NOW = utc(2027, 3, 1, 12)


def days_before(start: datetime, days: float) -> datetime:
    return start - timedelta(days=days)


@pytest.mark.parametrize(
    ("start", "minutes"),
    [
        pytest.param(START, 60, id="8h-week-paris-17h"),
        pytest.param(utc(2027, 3, 16, 15), 60, id="8h-week-paris-16h-sf-08h"),
        pytest.param(utc(2027, 3, 16, 15), 120, id="8h-week-paris-16-18h"),
        pytest.param(utc(2027, 3, 16, 16), 120, id="8h-week-until-paris-19h"),
        pytest.param(utc(2027, 3, 9, 16), 120, id="9h-week-paris-17-19h"),
        pytest.param(utc(2027, 6, 15, 15), 120, id="summer-paris-17-19h"),
        pytest.param(utc(2027, 11, 2, 15), 60, id="autumn-8h-week-paris-16h"),
        pytest.param(utc(2027, 3, 16, 17, 45), 15, id="shortest-last"),
    ],
)
def test_accepted(start: datetime, minutes: int) -> None:
    check_booking(request(start, minutes), [], [], days_before(start, 10))


@pytest.mark.parametrize(
    ("booths", "code"),
    [
        ((CANTINE_A,), "too_few_booths"),
        ((), "too_few_booths"),
        ((CANTINE_A, CANTINE_B), "same_venue"),
        ((CANTINE_A, SF_A, CANTINE_A), "same_venue"),
        ((SF_A, CANTINE_A, SF_B), "same_venue"),
    ],
)
@pytest.mark.parametrize("override", [False, True])
def test_structure(booths: Sequence[Booth], code: str, override: bool) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_booking(request(START, 60, booths), [], [], NOW, override=override)
    assert (caught.value.code, caught.value.field) == (code, "booths")


@pytest.mark.parametrize("override", [False, True])
def test_end_before_start_is_invalid(override: bool) -> None:
    bad = BookingRequest(PAIR, START, START, organizer_id=1)
    with pytest.raises(InvalidInput) as caught:
        check_booking(bad, [], [], NOW, override=override)
    assert (caught.value.code, caught.value.field) == ("duration", "end")


@pytest.mark.parametrize(
    "bad",
    [
        request(START.replace(tzinfo=None), 60),
        BookingRequest(PAIR, START, datetime(2027, 3, 16, 17), organizer_id=1),
    ],
)
def test_naive_datetimes_are_programming_errors(bad: BookingRequest) -> None:
    with pytest.raises(ValueError):
        check_booking(bad, [], [], NOW)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check_booking(request(START), [], [], datetime(2027, 3, 1))


PARIS_BLACKOUT = with_venue(
    CANTINE_A,
    paris_venue(blackouts=[Blackout(utc(2027, 3, 16, 15, 30), utc(2027, 3, 16, 16, 30), "Fire drill")]),
)
LOW_QUOTA = with_venue(CANTINE_A, paris_venue(rules=Rules(weekly_quota_minutes=60)))

# (id, request, now, organizer bookings, code, field, fragments of the message)
VIOLATIONS = [
    (
        "grid-5min",
        request(START + timedelta(minutes=5)),
        NOW,
        [],
        "grid",
        "start",
        ["La Cantine", "15-minute grid", "17:05"],
    ),
    ("grid-seconds", request(START + timedelta(seconds=30)), NOW, [], "grid", "start", ["17:00:30"]),
    (
        "duration-not-multiple",
        request(START, 50),
        NOW,
        [],
        "duration",
        "duration_minutes",
        ["15 to 120 minutes", "steps of 15", "50 minutes"],
    ),
    ("duration-too-short", request(START, 10), NOW, [], "duration", "duration_minutes", ["10 minutes"]),
    ("duration-too-long", request(START, 135), NOW, [], "duration", "duration_minutes", ["135 minutes"]),
    (
        "notice",
        request(START),
        START - timedelta(minutes=119),
        [],
        "notice",
        "start",
        ["at least 120 minutes ahead", "2027-03-16 17:00 (Europe/Paris)"],
    ),
    ("notice-past", request(START), START + timedelta(days=1), [], "notice", "start", ["too soon"]),
    (
        "advance",
        request(START),
        START - timedelta(days=90, minutes=1),
        [],
        "advance",
        "start",
        ["at most 90 days ahead", "too far"],
    ),
    (
        "opening-paris-morning",
        request(utc(2027, 3, 16, 6)),
        NOW,
        [],
        "opening_hours",
        "start",
        [
            "Cantine A at La Cantine is open 09:00–19:00 (Europe/Paris) on Tue 2027-03-16;",
            "07:00–08:00 local time is outside",
        ],
    ),
    (
        "opening-sf-night",
        request(utc(2027, 3, 16, 8)),
        NOW,
        [],
        "opening_hours",
        "start",
        [
            "SF A at Mission Co-working is open 08:00–18:00 (America/Los_Angeles) on Tue 2027-03-16;",
            "01:00–02:00 local time",
        ],
    ),
    (
        "opening-9h-week-sf-07h",
        request(utc(2027, 3, 9, 15)),
        NOW,
        [],
        "opening_hours",
        "start",
        ["SF A", "07:00–08:00"],
    ),
    (
        "opening-autumn-9h-week",
        request(utc(2027, 11, 9, 15)),
        utc(2027, 11, 1),
        [],
        "opening_hours",
        "start",
        ["SF A", "on Tue 2027-11-09", "07:00–08:00"],
    ),
    (
        "opening-paris-closes-19h",
        request(utc(2027, 3, 16, 17, 30)),
        NOW,
        [],
        "opening_hours",
        "start",
        ["Cantine A", "18:30–19:30"],
    ),
    (
        "opening-saturday",
        request(utc(2027, 3, 20, 16)),
        NOW,
        [],
        "opening_hours",
        "start",
        ["Cantine A at La Cantine is closed all day (Europe/Paris) on Sat 2027-03-20"],
    ),
    (
        "closure-14-juillet",
        request(utc(2027, 7, 14, 15)),
        utc(2027, 7, 1),
        [],
        "closure",
        "start",
        ["La Cantine is closed on Wed 2027-07-14 for Fête nationale", "Cantine A"],
    ),
    (
        "closure-1-mai",
        request(utc(2026, 5, 1, 15)),
        utc(2026, 4, 20),
        [],
        "closure",
        "start",
        ["La Cantine", "Fête du Travail"],
    ),
    (
        "closure-8-mai",
        request(utc(2026, 5, 8, 15)),
        utc(2026, 4, 20),
        [],
        "closure",
        "start",
        ["La Cantine", "Fête de la Victoire"],
    ),
    (
        "closure-thanksgiving",
        request(utc(2027, 11, 25, 16)),
        utc(2027, 11, 1),
        [],
        "closure",
        "start",
        ["Mission Co-working is closed on Thu 2027-11-25 for Thanksgiving Day", "SF A"],
    ),
    (
        "closure-july-4th-observed",
        request(utc(2027, 7, 5, 15)),
        utc(2027, 7, 1),
        [],
        "closure",
        "start",
        ["Mission Co-working", "Independence Day (observed)"],
    ),
    (
        "closure-cesar-chavez",
        request(utc(2027, 3, 31, 15)),
        NOW,
        [],
        "closure",
        "start",
        ["Mission Co-working", "Cesar Chavez Day"],
    ),
    (
        "closure-blackout",
        request(START, 60, (PARIS_BLACKOUT, SF_A)),
        NOW,
        [],
        "closure",
        "start",
        ["La Cantine is closed from 2027-03-16 16:30 (Europe/Paris) to 2027-03-16 17:30", "Fire drill"],
    ),
    (
        "quota",
        request(START, 60),
        NOW,
        week_of(START, [60, 60, 60, 30]),
        "quota",
        "duration_minutes",
        ["240 minutes a week", "210 minutes", "60-minute session would make 270"],
    ),
    (
        "quota-smallest-venue",
        request(START, 90, (LOW_QUOTA, SF_A)),
        NOW,
        [],
        "quota",
        "duration_minutes",
        ["60 minutes a week at La Cantine"],
    ),
]


@pytest.mark.parametrize(
    ("req", "now", "organizer", "code", "field", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in VIOLATIONS],
)
def test_violations(
    req: BookingRequest,
    now: datetime,
    organizer: list[TimeRange],
    code: str,
    field: str,
    fragments: list[str],
) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_booking(req, [], organizer, now)
    error = caught.value
    assert (error.code, error.field) == (code, field)
    for fragment in fragments:
        assert fragment in error.message
    assert error.message[0].isupper() and error.message.endswith("."), error.message


@pytest.mark.parametrize(
    ("req", "now", "organizer"),
    [pytest.param(*case[1:4], id=case[0]) for case in VIOLATIONS],
)
def test_override_skips_rules(req: BookingRequest, now: datetime, organizer: list[TimeRange]) -> None:
    check_booking(req, [], organizer, now, override=True)


@pytest.mark.parametrize(
    ("req", "now", "organizer"),
    [pytest.param(*case[1:4], id=case[0]) for case in VIOLATIONS],
)
def test_override_never_skips_conflicts(
    req: BookingRequest, now: datetime, organizer: list[TimeRange]
) -> None:
    held = busy(req.booths[1], req.start, req.end, booking_id=5)
    with pytest.raises(BookingConflict):
        check_booking(req, [held], organizer, now, override=True)


@pytest.mark.parametrize(
    ("req", "now", "code"),
    [
        (request(utc(2027, 3, 16, 6, 5)), NOW, "grid"),  # also outside opening hours
        (request(utc(2027, 3, 16, 6), 50), NOW, "duration"),  # also outside opening hours
        (request(utc(2027, 3, 20, 16)), utc(2027, 3, 20, 15), "notice"),  # also a Saturday
        (request(utc(2027, 7, 14, 6)), utc(2027, 7, 1), "opening_hours"),  # also a holiday
    ],
)
def test_rules_are_checked_in_order(req: BookingRequest, now: datetime, code: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_booking(req, [], [], now)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("now", "organizer"),
    [
        (START - timedelta(minutes=120), []),  # exactly the minimum notice
        (START - timedelta(days=90), []),  # exactly the maximum advance
        (NOW, week_of(START, [60, 60, 60])),  # 180 + 60 = 240, exactly the quota
        (NOW, week_of(START - timedelta(days=7), [60, 60, 60, 60])),  # the previous week
        (NOW, week_of(START + timedelta(days=7), [60, 60, 60, 60])),  # the next week
    ],
)
def test_limits_are_inclusive(now: datetime, organizer: list[TimeRange]) -> None:
    check_booking(request(START), [], organizer, now)


def test_quota_weeks_start_monday_utc() -> None:
    # Monday 15 March 00:00Z starts the week of START; Sunday 14 March 23:00Z is the week before.
    sunday = [TimeRange(utc(2027, 3, 14, 23), utc(2027, 3, 15, 2))]
    monday = [TimeRange(utc(2027, 3, 15, 0), utc(2027, 3, 15, 3))]
    check_booking(request(START, 60), [], sunday + sunday, NOW)
    with pytest.raises(RuleViolation, match="quota|minutes a week"):
        check_booking(request(START, 90), [], monday, NOW)


# -- conflicts ------------------------------------------------------------------------------

END = START + timedelta(hours=1)


@pytest.mark.parametrize(
    ("held", "conflicting"),
    [
        pytest.param([], [], id="free"),
        pytest.param([busy(SF_B, START, END)], [], id="other-booth"),
        pytest.param([busy(SF_A, START, END)], [SF_A], id="same-range"),
        pytest.param([busy(SF_A, START, END), busy(CANTINE_A, START, END)], [CANTINE_A, SF_A], id="both"),
        pytest.param(
            [busy(SF_A, START - timedelta(hours=1), START - timedelta(minutes=10))],
            [],
            id="10-min-gap-before",
        ),
        pytest.param(
            [busy(SF_A, START - timedelta(hours=1), START - timedelta(minutes=9))],
            [SF_A],
            id="9-min-gap-before",
        ),
        pytest.param(
            [busy(CANTINE_A, END + timedelta(minutes=10), END + timedelta(hours=1))],
            [],
            id="10-min-gap-after",
        ),
        pytest.param(
            [busy(CANTINE_A, END + timedelta(minutes=9), END + timedelta(hours=1))],
            [CANTINE_A],
            id="9-min-gap-after",
        ),
        pytest.param(
            [busy(SF_A, START - timedelta(minutes=30), START - timedelta(minutes=15))],
            [],
            id="15-min-grid-gap",
        ),
        pytest.param([busy(SF_A, START - timedelta(minutes=30), START)], [SF_A], id="back-to-back"),
        pytest.param(
            [busy(SF_A, START + timedelta(minutes=15), START + timedelta(minutes=30))], [SF_A], id="inside"
        ),
    ],
)
def test_conflicts(held: list[Busy], conflicting: list[Booth]) -> None:
    req = request(START)
    if not conflicting:
        check_booking(req, held, [], NOW)
        return
    with pytest.raises(BookingConflict) as caught:
        check_booking(req, held, [], NOW)
    assert [c.booth_id for c in caught.value.conflicts] == [b.id for b in conflicting]
    assert caught.value.code == "conflict" and caught.value.field == "booths"


def test_conflict_lists_every_clash_with_its_range() -> None:
    held = [
        busy(SF_A, START + timedelta(minutes=30), END + timedelta(minutes=30), booking_id=8),
        busy(SF_A, START - timedelta(minutes=60), START - timedelta(minutes=5), booking_id=7),
        busy(CANTINE_A, START, END, booking_id=9),
    ]
    with pytest.raises(BookingConflict) as caught:
        check_booking(request(START), held, [], NOW)
    assert caught.value.conflicts == [
        Conflict(1, "Cantine A", "2027-03-16T16:00:00Z", "2027-03-16T17:00:00Z", 9),
        Conflict(3, "SF A", "2027-03-16T15:00:00Z", "2027-03-16T15:55:00Z", 7),
        Conflict(3, "SF A", "2027-03-16T16:30:00Z", "2027-03-16T17:30:00Z", 8),
    ]
    assert len(caught.value.details["conflicts"]) == 3


def test_each_booth_uses_its_own_venue_buffer() -> None:
    slow_paris = with_venue(CANTINE_A, replace(PARIS, rules=Rules(buffer_minutes=30)))
    before = (START - timedelta(hours=1), START - timedelta(minutes=20))
    check_booking(request(START, 60, (slow_paris, SF_A)), [busy(SF_A, *before)], [], NOW)
    with pytest.raises(BookingConflict):
        check_booking(request(START, 60, (slow_paris, SF_A)), [busy(slow_paris, *before)], [], NOW)


@pytest.mark.parametrize(("replaces", "conflicts"), [(7, False), (8, True), (None, True)])
def test_reschedule_ignores_its_own_busy_ranges(replaces: int | None, conflicts: bool) -> None:
    own = [
        busy(CANTINE_A, START - timedelta(minutes=30), START + timedelta(minutes=30), booking_id=7),
        busy(SF_A, START - timedelta(minutes=30), START + timedelta(minutes=30), booking_id=7),
    ]
    moved = request(START, 60, replaces=replaces)
    if conflicts:
        with pytest.raises(BookingConflict):
            check_booking(moved, own, [], NOW)
    else:
        check_booking(moved, own, [], NOW)

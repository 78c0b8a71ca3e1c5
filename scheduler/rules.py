"""Booking rules and availability: pure functions of data and ``now`` (no I/O, no clock).

Every instant is an aware UTC ``datetime``; each booth follows the rules, opening hours and
closures of its own venue, read in that venue's local time. Ranges are half-open, and a
booking holds its booth for ``[start, end + buffer)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .closures import closure_ranges, holiday_name
from .errors import BookingConflict, Conflict, InvalidInput, RuleViolation
from .model import WEEKDAYS, BookingRequest, Booth, Busy, Slot, TimeRange, Venue
from .zones import local_span_to_utc, to_local, utc_offset_iso

__all__ = ["MAX_RANGE_DAYS", "available_slots", "check_booking"]

#: The longest availability query, in days (a quarter, so that 90 days ahead always fits).
MAX_RANGE_DAYS = 92

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)

# A set of allowed start instants, as a sorted list of disjoint *closed* intervals [a, b].
_Starts = list[tuple[datetime, datetime]]


# -- small helpers ---------------------------------------------------------------------------


def _require_aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the scheduler works in aware UTC")


def _iso_z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day_label(day: date) -> str:
    return f"{_DAY_NAMES[day.weekday()]} {day.isoformat()}"


def _clock(local: datetime) -> str:
    return local.strftime("%H:%M:%S" if local.second or local.microsecond else "%H:%M")


def _local(instant: datetime, venue: Venue) -> str:
    return f"{to_local(instant, venue.timezone):%Y-%m-%d %H:%M} ({venue.timezone})"


def _where(booth: Booth, request: BookingRequest) -> dict[str, Any]:
    """The ``details`` every rule refusal carries, so that a client can say in its own language
    which booth and venue it is about and when, in that venue's wall-clock time."""
    venue = booth.venue
    return {
        "venue": venue.name,
        "booth": booth.name,
        "city": venue.city,
        "timezone": venue.timezone,
        "start": utc_offset_iso(request.start, venue.timezone),
        "end": utc_offset_iso(request.end, venue.timezone),
    }


def _hours_text(venue: Venue, day: date) -> str:
    def close(t: time) -> str:
        return "24:00" if t == time(0, 0) else f"{t:%H:%M}"

    return " and ".join(f"{o:%H:%M}–{close(c)}" for o, c in venue.opening_hours.for_weekday(day.weekday()))


def _opening_spans(venue: Venue, day: date) -> list[TimeRange]:
    return [
        local_span_to_utc(day, o, c, venue.timezone)
        for o, c in venue.opening_hours.for_weekday(day.weekday())
    ]


def _on_grid(instant: datetime, venue: Venue) -> bool:
    return _off_grid(instant, venue) == timedelta(0)


def _off_grid(instant: datetime, venue: Venue) -> timedelta:
    """How far ``instant`` is past the last start on ``venue``'s local grid."""
    local = to_local(instant, venue.timezone)
    since_midnight = timedelta(
        hours=local.hour, minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    return since_midnight % timedelta(minutes=venue.rules.grid_minutes)


def _grid_after(instant: datetime, venue: Venue) -> datetime:
    """The first start on ``venue``'s grid at or after ``instant``."""
    past = _off_grid(instant, venue)
    return instant + (timedelta(minutes=venue.rules.grid_minutes) - past) if past else instant


def _duration_problem(venue: Venue, duration: timedelta) -> str | None:
    rules = venue.rules
    minutes, rest = divmod(duration, _MINUTE)
    if (
        not rest
        and rules.min_duration_minutes <= minutes <= rules.max_duration_minutes
        and minutes % rules.grid_minutes == 0
    ):
        return None
    return (
        f"Sessions at {venue.name} last {rules.min_duration_minutes} to {rules.max_duration_minutes} "
        f"minutes in steps of {rules.grid_minutes}; {duration / _MINUTE:g} minutes is not allowed."
    )


def _check_structure(booths: Sequence[Booth], minimum: int) -> None:
    if len(booths) < minimum:
        raise InvalidInput(
            f"Choose at least {minimum} booth{'s' if minimum > 1 else ''}, one per venue; "
            f"{len(booths)} given.",
            field="booths",
            code="too_few_booths",
        )
    by_venue: dict[int, Booth] = {}
    seen: set[int] = set()
    for booth in booths:
        if booth.id in seen:
            raise InvalidInput(f"Booth {booth.name} is listed twice.", field="booths", code="same_venue")
        other = by_venue.get(booth.venue.id)
        if other is not None:
            raise InvalidInput(
                f"{other.name} and {booth.name} are both at {booth.venue.name}; a session "
                "joins one booth per venue.",
                field="booths",
                code="same_venue",
            )
        seen.add(booth.id)
        by_venue[booth.venue.id] = booth


# -- the rules, one function each, in the order they are checked ----------------------------

_Rule = Callable[[Booth, BookingRequest, datetime], RuleViolation | None]


def _grid(booth: Booth, request: BookingRequest, now: datetime) -> RuleViolation | None:
    venue = booth.venue
    if _on_grid(request.start, venue):
        return None
    start = to_local(request.start, venue.timezone)
    return RuleViolation(
        f"Sessions at {venue.name} start on a {venue.rules.grid_minutes}-minute grid "
        f"({venue.timezone}); {_clock(start)} is not on it.",
        field="start",
        code="grid",
        details=_where(booth, request) | {"grid_minutes": venue.rules.grid_minutes},
    )


def _duration(booth: Booth, request: BookingRequest, now: datetime) -> RuleViolation | None:
    rules, length = booth.venue.rules, request.end - request.start
    problem = _duration_problem(booth.venue, length)
    if not problem:
        return None
    return RuleViolation(
        problem,
        field="duration_minutes",
        code="duration",
        details=_where(booth, request)
        | {
            "duration_minutes": length // _MINUTE,
            "min_duration_minutes": rules.min_duration_minutes,
            "max_duration_minutes": rules.max_duration_minutes,
            "grid_minutes": rules.grid_minutes,
        },
    )


def _notice(booth: Booth, request: BookingRequest, now: datetime) -> RuleViolation | None:
    venue, notice = booth.venue, booth.venue.rules.min_notice_minutes
    if request.start >= now + timedelta(minutes=notice):
        return None
    return RuleViolation(
        f"Sessions at {venue.name} must be booked at least {notice} minutes ahead; "
        f"this one starts at {_local(request.start, venue)}, which is too soon.",
        field="start",
        code="notice",
        details=_where(booth, request)
        | {
            "min_notice_minutes": notice,
            "minutes_until_start": (request.start - now) // _MINUTE,
            "earliest_start": utc_offset_iso(
                _grid_after(now + timedelta(minutes=notice), venue), venue.timezone
            ),
        },
    )


def _advance(booth: Booth, request: BookingRequest, now: datetime) -> RuleViolation | None:
    venue, days = booth.venue, booth.venue.rules.max_advance_days
    limit = now + timedelta(days=days)
    if request.start <= limit:
        return None
    return RuleViolation(
        f"Sessions at {venue.name} can be booked at most {days} days ahead, until "
        f"{_local(limit, venue)}; {_local(request.start, venue)} is too far.",
        field="start",
        code="advance",
        details=_where(booth, request)
        | {
            "max_advance_days": days,
            "latest_start": utc_offset_iso(limit - _off_grid(limit, venue), venue.timezone),
        },
    )


def _opening_hours(booth: Booth, request: BookingRequest, now: datetime) -> RuleViolation | None:
    venue, wanted = booth.venue, TimeRange(request.start, request.end)
    day = to_local(request.start, venue.timezone).date()
    if any(span.contains(wanted) for span in _opening_spans(venue, day)):
        return None
    start, end = (to_local(t, venue.timezone) for t in (request.start, request.end))
    hours = _hours_text(venue, day)
    opening = f"is open {hours}" if hours else "is closed all day"
    return RuleViolation(
        f"{booth.name} at {venue.name} {opening} ({venue.timezone}) on {_day_label(day)}; "
        f"{_clock(start)}–{_clock(end)} local time is outside its opening hours.",
        field="start",
        code="opening_hours",
        details=_where(booth, request)
        | {"date": day.isoformat(), "opening_hours": venue.opening_hours.to_json()[WEEKDAYS[day.weekday()]]},
    )


def _closure(booth: Booth, request: BookingRequest, now: datetime) -> RuleViolation | None:
    venue, wanted = booth.venue, TimeRange(request.start, request.end)
    day, last = (to_local(t, venue.timezone).date() for t in (request.start, request.end - _MICROSECOND))
    while day <= last:
        name = holiday_name(venue, day)
        if name is not None and local_span_to_utc(day, time(0), time(0), venue.timezone).overlaps(wanted):
            return RuleViolation(
                f"{venue.name} is closed on {_day_label(day)} for {name}, a public holiday; "
                f"{booth.name} cannot be booked that day.",
                field="start",
                code="closure",
                details=_where(booth, request)
                | {"closure": "holiday", "holiday": name, "date": day.isoformat()},
            )
        day += timedelta(days=1)
    for blackout in venue.blackouts:
        if TimeRange(blackout.start, blackout.end).overlaps(wanted):
            return RuleViolation(
                f"{venue.name} is closed from {_local(blackout.start, venue)} to "
                f"{_local(blackout.end, venue)}: {blackout.reason}. {booth.name} cannot "
                "be booked then.",
                field="start",
                code="closure",
                details=_where(booth, request)
                | {
                    "closure": "blackout",
                    "reason": blackout.reason,
                    "closed_from": utc_offset_iso(blackout.start, venue.timezone),
                    "closed_until": utc_offset_iso(blackout.end, venue.timezone),
                },
            )
    return None


_RULES: tuple[_Rule, ...] = (_grid, _duration, _notice, _advance, _opening_hours, _closure)


def _quota(request: BookingRequest, organizer_bookings: Sequence[TimeRange]) -> RuleViolation | None:
    """A booking counts in the ISO week (Monday 00:00 UTC) where it starts."""
    booth = min(request.booths, key=lambda b: b.venue.rules.weekly_quota_minutes)
    venue = booth.venue
    quota = venue.rules.weekly_quota_minutes
    start = request.start.astimezone(UTC)
    monday = datetime.combine(start.date() - timedelta(days=start.weekday()), time(0), tzinfo=UTC)
    week = TimeRange(monday, monday + timedelta(days=7))
    used = sum((b.duration for b in organizer_bookings if week.start <= b.start < week.end), timedelta())
    wanted = request.end - request.start
    if (used + wanted) <= timedelta(minutes=quota):
        return None
    return RuleViolation(
        f"Each organizer may book up to {quota} minutes a week at {venue.name} (weeks run "
        f"Monday to Sunday, UTC); you already have {used / _MINUTE:g} minutes in the week "
        f"of {monday:%Y-%m-%d}, and this {wanted / _MINUTE:g}-minute session would make "
        f"{(used + wanted) / _MINUTE:g}.",
        field="duration_minutes",
        code="quota",
        details=_where(booth, request)
        | {
            "weekly_quota_minutes": quota,
            "used_minutes": used // _MINUTE,
            "duration_minutes": wanted // _MINUTE,
            "week_start": monday.date().isoformat(),
        },
    )


def _conflicts(request: BookingRequest, busy: Sequence[Busy]) -> list[Conflict]:
    found: list[Conflict] = []
    for booth in request.booths:
        buffer = booth.venue.rules.buffer
        clashes = [
            b
            for b in busy
            if b.booth_id == booth.id
            and (request.replaces_booking_id is None or b.booking_id != request.replaces_booking_id)
            and b.start < request.end + buffer
            and request.start < b.end + buffer
        ]
        found += [
            Conflict(booth.id, booth.name, _iso_z(b.start), _iso_z(b.end), b.booking_id)
            for b in sorted(clashes, key=lambda b: (b.start, b.end))
        ]
    return found


def check_booking(
    request: BookingRequest,
    busy: Sequence[Busy],
    organizer_bookings: Sequence[TimeRange],
    now: datetime,
    *,
    override: bool = False,
) -> None:
    """Raise if ``request`` may not be booked; return ``None`` if it may.

    ``busy`` holds the confirmed bookings of the booths (unbuffered); entries of
    ``request.replaces_booking_id`` are ignored. ``organizer_bookings`` are the organizer's
    other confirmed bookings (without the one being rescheduled), for the weekly quota.

    Raises, in order: ``ValueError`` for a naive datetime (a programming error);
    :class:`InvalidInput` ``too_few_booths`` / ``same_venue`` / ``duration`` (ends before it
    starts); always :class:`RuleViolation` ``session_too_long``; unless ``override``, :class:`RuleViolation` ``grid``, ``duration``, ``notice``,
    ``advance``, ``opening_hours``, ``closure``, ``quota``; and always
    :class:`BookingConflict` listing every clash, the buffer of each booth's venue included.
    """
    _require_aware(request.start, request.end, now)
    _check_structure(request.booths, minimum=2)
    if request.end <= request.start:
        raise InvalidInput(
            f"The session ends ({_iso_z(request.end)}) before it starts ({_iso_z(request.start)}).",
            field="end",
            code="duration",
        )
    _check_session_length(request)
    if not override:
        for rule in _RULES:
            for booth in request.booths:
                violation = rule(booth, request, now)
                if violation is not None:
                    raise violation
        violation = _quota(request, organizer_bookings)
        if violation is not None:
            raise violation
    conflicts = _conflicts(request, busy)
    if conflicts:
        raise BookingConflict(conflicts)


#: No session may become longer, whatever a venue's rules say (checked on every create, move
#: and extend, overrides included). Reads do not rely on it: a longer row (made before this cap,
#: by hand in the database, or under a later rule) still shows in feeds, free/busy and
#: availability, whose windows are scheduler.tables.overlapping.
LONGEST_SESSION = timedelta(days=1)


def _check_session_length(request: BookingRequest) -> None:
    """The total length, extensions included, within every venue's ``max_session_minutes``."""
    length = request.end - request.start
    for booth in request.booths:
        limit = min(timedelta(minutes=booth.venue.rules.max_session_minutes), LONGEST_SESSION)
        if length > limit:
            raise RuleViolation(
                f"Sessions at {booth.venue.name} last at most {limit / _MINUTE:g} minutes in all, "
                f"extensions included; this one would last {length / _MINUTE:g}.",
                field="duration_minutes",
                code="session_too_long",
                details=_where(booth, request)
                | {"max_session_minutes": limit // _MINUTE, "duration_minutes": length // _MINUTE},
            )


# -- availability by interval arithmetic ----------------------------------------------------


def _subtract(allowed: _Starts, blocked: list[tuple[datetime, datetime]]) -> _Starts:
    """Closed intervals ``allowed`` minus *open* intervals ``blocked``."""
    blocked = sorted(blocked)
    out: _Starts = []
    for a, b in allowed:
        for x, y in blocked:
            if x >= b or a > b:
                break
            if y <= a:
                continue
            if x >= a:
                out.append((a, x))  # x itself is not blocked: the interval is open
            a = y
        if a <= b:
            out.append((a, b))
    return out


def _intersect(left: _Starts, right: _Starts) -> _Starts:
    out: _Starts = []
    i = j = 0
    while i < len(left) and j < len(right):
        a, b = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if a <= b:
            out.append((a, b))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def _free_starts(
    booth: Booth, lo: datetime, hi: datetime, duration: timedelta, busy: Sequence[Busy]
) -> _Starts:
    """Starts in ``[lo, hi]`` where ``booth`` is open, not closed and not busy for ``duration``."""
    venue = booth.venue
    opened: _Starts = []
    day, last = to_local(lo, venue.timezone).date(), to_local(hi, venue.timezone).date()
    while day <= last:
        opened += [
            (s.start, s.end - duration) for s in _opening_spans(venue, day) if s.start <= s.end - duration
        ]
        day += timedelta(days=1)
    # A range [s, e) blocks the starts t with [t, t + duration) overlapping it: s - duration < t < e.
    blocked = [(r.start - duration, r.end) for r, _ in closure_ranges(venue, lo, hi + duration)]
    buffer = venue.rules.buffer
    blocked += [(b.start - buffer - duration, b.end + buffer) for b in busy if b.booth_id == booth.id]
    return _intersect(_subtract(opened, blocked), [(lo, hi)])


def _grid_starts(allowed: _Starts, venues: list[Venue]) -> list[datetime]:
    """Starts within ``allowed`` on every venue's local grid, stepping by the largest grid."""
    reference = max(venues, key=lambda v: v.rules.grid_minutes)
    step = timedelta(minutes=reference.rules.grid_minutes)
    starts: list[datetime] = []
    for a, b in allowed:
        local = to_local(a, reference.timezone)
        t = a + (local.replace(hour=0, minute=0, second=0, microsecond=0) - local) % step
        candidates = []
        while t <= b:
            candidates.append(t)
            t += step
        if not candidates:
            continue
        # An interval is shorter than a day, so offsets change in it at most once. When they do
        # not, and every grid divides the step, the first start speaks for all of them.
        steady = all(
            step % timedelta(minutes=v.rules.grid_minutes) == timedelta(0)
            and to_local(a, v.timezone).utcoffset() == to_local(b, v.timezone).utcoffset()
            for v in venues
        )
        if steady:
            if all(_on_grid(candidates[0], v) for v in venues):
                starts += candidates
        else:
            starts += [t for t in candidates if all(_on_grid(t, v) for v in venues)]
    return starts


def available_slots(
    booths: Sequence[Booth],
    day_from: date,
    day_to: date,
    duration: timedelta,
    busy: Sequence[Busy],
    now: datetime,
    *,
    days_tz: str | None = None,
) -> list[Slot]:
    """Every grid start where all ``booths`` are free for ``duration``, as sorted :class:`Slot`.

    A slot satisfies, for each booth, every rule of :func:`check_booking` but the weekly quota:
    grid, duration, notice, advance, opening hours, closures, and the buffered ``busy`` ranges.
    Slots are those whose start falls on a date from ``day_from`` to ``day_to`` (inclusive) in
    ``days_tz`` (by default the first booth's venue zone).

    Raises :class:`InvalidInput`: ``duration`` (field ``duration``) for a duration some venue
    does not allow; ``date_range`` (field ``to``) when ``day_to`` is before ``day_from`` or the
    range spans more than :data:`MAX_RANGE_DAYS` days; ``too_few_booths``/``same_venue``.
    """
    _require_aware(now)
    _check_structure(booths, minimum=1)
    if day_to < day_from:
        raise InvalidInput(
            f"The range ends ({day_to}) before it starts ({day_from}).", field="to", code="date_range"
        )
    if (day_to - day_from).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(
            f"Ask for at most {MAX_RANGE_DAYS} days at a time; {day_from} to {day_to} is "
            f"{(day_to - day_from).days + 1}.",
            field="to",
            code="date_range",
        )
    venues = [booth.venue for booth in booths]
    for venue in venues:
        problem = _duration_problem(venue, duration)
        if problem:
            raise InvalidInput(problem, field="duration", code="duration")
    tz = days_tz or venues[0].timezone
    window_end = local_span_to_utc(day_to, time(0), time(0), tz).end
    lo = max(
        local_span_to_utc(day_from, time(0), time(0), tz).start,
        now + max(timedelta(minutes=v.rules.min_notice_minutes) for v in venues),
    )
    hi = min(window_end - _MICROSECOND, now + min(timedelta(days=v.rules.max_advance_days) for v in venues))
    if lo > hi:
        return []
    allowed: _Starts = [(lo, hi)]
    for booth in booths:
        allowed = _intersect(allowed, _free_starts(booth, lo, hi, duration, busy))
    return [Slot(start, start + duration) for start in _grid_starts(allowed, venues)]

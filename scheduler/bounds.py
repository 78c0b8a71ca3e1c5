"""What a stored value may be: instants in a documented range, text that every reader can encode.

One bad write must never poison later reads (a feed, an ``.ics``, a list), so these checks run
where a value enters (the HTTP layer calls them through ``booth_server/validation.py``) and again
where the store writes it. The range is far wider than any booking rule allows (90 days ahead)
and narrow enough that every date and offset arithmetic stays inside ``datetime``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from .errors import InvalidInput

#: Instants the server stores or computes with: [2000-01-01T00:00Z, 2100-01-01T00:00Z).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
FIRST_DAY = EARLIEST.date()
LAST_DAY = (LATEST - timedelta(days=1)).date()
#: The widest UTC offset any time zone uses (Kiribati +14:00; Baker Island -12:00).
MAX_OFFSET = timedelta(hours=14)
#: A single-line text may hold no control (C0, DEL, C1) and no lone surrogate; multi-line text
#: may also hold tab and newline.
_BAD_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_instant(value: datetime, field: str) -> datetime:
    """``value`` (aware) when it lies in the range and its offset is one a zone uses."""
    offset = value.utcoffset()
    if offset is None:
        raise InvalidInput(f"{field} has no UTC offset", field=field, code="missing_offset")
    if abs(offset) > MAX_OFFSET:
        raise InvalidInput(
            f"{field}: the UTC offset {_offset_text(offset)} is beyond ±14:00, which no time zone uses",
            field=field,
            code="invalid",
        )
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(
            f"{field} must lie between 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z",
            field=field,
            code="invalid",
        )
    return value


def check_day(value: date, field: str) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise InvalidInput(
            f"{field} must be a date between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}",
            field=field,
            code="invalid",
        )
    return value


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be stored as text (a lone surrogate, NUL, a control), or None."""
    found = (_BAD_MULTILINE if multiline else _BAD_SINGLE_LINE).search(value)
    if found is None:
        return None
    char, position = found.group(), found.start()
    if _SURROGATE.match(char):
        return f"holds a lone surrogate (U+{ord(char):04X}) at position {position}: not valid Unicode"
    return f"holds the control character U+{ord(char):04X} at position {position}"


def check_text(value: str, field: str, *, multiline: bool = False) -> str:
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", field=field, code="invalid")
    return value


def readable(value: str) -> str:
    """Text already stored, made safe to encode: each lone surrogate becomes U+FFFD.

    For rows written before these checks existed; new writes never need it.
    """
    return _SURROGATE.sub("\ufffd", value)


def _offset_text(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds() // 60)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def cleaned(value: str) -> str:
    """Stored text repaired for the checks: lone surrogates become U+FFFD, controls are dropped."""
    return _BAD_SINGLE_LINE.sub(lambda m: "\ufffd" if _SURROGATE.match(m.group()) else "", value)

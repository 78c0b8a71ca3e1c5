"""Reading request input: every bad value becomes an error that names its field.

Every handler reads its input through these functions, so the limits hold at every entry: a
JSON body is well-formed UTF-8 without lone surrogates (orjson refuses them, even escaped),
nested at most ``MAX_JSON_DEPTH`` deep, with no integer wider than 64 bits; every text is free
of NUL and other controls and bounded in length; every instant and day lies within
``scheduler.bounds`` (2000–2100, offsets within ±14:00).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import orjson
from aiohttp import web

from scheduler import bounds, zones
from scheduler.errors import InvalidInput

from .errors import BadRequest

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Deeper than any request body of the API (3 levels); orjson itself stops at 1024.
MAX_JSON_DEPTH = 8


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object in the body; 400 when unreadable, 413 when over the size limit."""
    if request.content_type != "application/json":
        raise BadRequest(
            "send the body as JSON with Content-Type: application/json", field="body", code="bad_content_type"
        )
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        body = _with_surrogates(raw)
        if body is None:
            raise BadRequest(f"the body is not valid JSON: {exc}", field="body", code="bad_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    _check_tree(body, "", 1)
    return body


def _with_surrogates(raw: bytes) -> Any:
    """The body as the json module reads it (escaped lone surrogates kept), to name their field.

    Only for bodies orjson refused; anything else the json module finds wrong stays refused.
    """
    if b"\\u" not in raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _check_tree(value: Any, path: str, depth: int) -> None:
    """Depth and text of a parsed body; names the first bad member by its path."""
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(
            f"the body nests deeper than {MAX_JSON_DEPTH} levels", field=_top(path) or "body", code="bad_json"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            member = f"{path}.{key}" if path else key
            if bounds.text_problem(key) is not None:
                raise InvalidInput(
                    f"a member name {bounds.text_problem(key)}", field=_top(path) or "body", code="invalid"
                )
            _check_tree(item, member, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_tree(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, str):
        problem = bounds.text_problem(value, multiline=True)
        if problem is not None:
            raise InvalidInput(f"{path} {problem}", field=_top(path), code="invalid")


def _top(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def text(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = True,
    max_length: int = 200,
    default: str | None = None,
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required", field=name, code="required")
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    value = value.strip()
    bounds.check_text(value, name)
    if required and not value:
        raise InvalidInput(f"{name} must not be empty", field=name, code="required")
    if len(value) > max_length:
        raise InvalidInput(f"{name} is longer than {max_length} characters", field=name)
    return value


def required_text(body: Mapping[str, Any], name: str, *, max_length: int = 200) -> str:
    value = text(body, name, max_length=max_length)
    assert value is not None
    return value


def email(body: Mapping[str, Any], name: str = "email") -> str:
    value = required_text(body, name, max_length=254).lower()
    if not _EMAIL.match(value):
        raise InvalidInput(f"{name} {value!r} is not an email address", field=name)
    return value


def emails(body: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 50:
        raise InvalidInput(f"{name} must be a list of at most 50 email addresses", field=name)
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or len(item) > 254 or not _EMAIL.match(item.strip()):
            raise InvalidInput(f"{name}[{i}] is not an email address", field=name)
        bounds.check_text(item, f"{name}[{i}]")
        out.append(item.strip().lower())
    return tuple(dict.fromkeys(out))


def integer(value: Any, name: str, *, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number", field=name)
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}", field=name)
    return value


def id_list(value: Any, name: str) -> tuple[int, ...]:
    """Booth ids from a JSON list or a comma-separated query string."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{name} must be a non-empty list of booth ids", field=name)
    if len(value) > 10:
        raise InvalidInput(f"{name} may list at most 10 booths", field=name)
    return tuple(integer(item, name, low=1, high=2**31 - 1) for item in value)


def day(value: Any, name: str) -> date:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} is required, as YYYY-MM-DD", field=name, code="required")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} {value!r} is not a date in the form YYYY-MM-DD", field=name) from None
    return bounds.check_day(parsed, name)


def instant(body: Mapping[str, Any], name: str, *, tz_field: str = "timezone") -> datetime:
    """An instant: UTC with Z, an ISO time with an offset, or local wall time plus ``timezone``.

    A local wall time that does not exist or happens twice in its zone is refused by name.
    """
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} is required, as an ISO 8601 time", field=name, code="required")
    text_value = value.strip()
    try:
        parsed = datetime.fromisoformat(
            text_value[:-1] + "+00:00" if text_value.endswith(("Z", "z")) else text_value
        )
    except ValueError:
        raise InvalidInput(
            f"{name} {value!r} is not an ISO 8601 time such as 2027-03-16T16:00:00Z", field=name
        ) from None
    tz_name = body.get(tz_field)
    if parsed.tzinfo is not None:
        if tz_name is not None:
            raise InvalidInput(f"give either an offset in {name} or {tz_field}, not both", field=tz_field)
        return bounds.check_instant(parsed, name).astimezone(UTC)
    if tz_name is None:
        raise InvalidInput(
            f"{name} has no UTC offset: add Z, an offset such as +01:00, or a {tz_field}",
            field=name,
            code="missing_offset",
        )
    if not isinstance(tz_name, str) or not zones.is_known_zone(tz_name):
        raise InvalidInput(
            f"{tz_field} {tz_name!r} is not an IANA time zone such as Europe/Paris",
            field=tz_field,
            code="unknown_timezone",
        )
    if not bounds.FIRST_DAY <= parsed.date() <= bounds.LAST_DAY:
        bounds.check_day(parsed.date(), name)
    return bounds.check_instant(zones.to_utc(parsed, tz_name, field=name), name)

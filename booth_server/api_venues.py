"""Venue administration: opening hours, blackouts and utilization, for the venue's staff or admins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from scheduler import closures, policy, zones
from scheduler.errors import AlreadyExists, Forbidden, InvalidInput, NotFound
from scheduler.model import Account, OpeningHours, Role, Venue
from scheduler.utilization import monday_of, weekly_utilization
from scheduler.venue_admin import BlackoutRecord, VenueAdmin

from . import auth
from . import validation as v
from .keys import CLOCK, STORE
from .serialize import created, venue_json, z

routes = web.RouteTableDef()

MAX_BLACKOUT = timedelta(days=400)


class NameTaken(AlreadyExists):
    """Another venue has this name (HTTP 409)."""

    code = "name_taken"


MAX_WEEKS = 26


async def _venue(request: web.Request) -> Venue:
    venue_id = v.integer(request.match_info["venue_id"], "venue_id", low=1, high=2**31 - 1)
    for venue in await request.app[STORE].venues():
        if venue.id == venue_id:
            return venue
    raise NotFound(f"there is no venue with id {venue_id}", field="venue_id")


async def _manager(request: web.Request, venue: Venue) -> Account:
    actor = await auth.require_account(request)
    if not policy.can_manage_venue(actor, venue.id):
        raise Forbidden(f"only staff of {venue.name} or an admin may do this", field="venue_id")
    return actor


def _local_instant(body: dict[str, Any], name: str, venue: Venue) -> datetime:
    """An instant; a wall time without offset or ``timezone`` is read in the venue's zone."""
    value = body.get(name)
    if isinstance(value, str) and "timezone" not in body:
        try:
            naive = datetime.fromisoformat(value.strip()).tzinfo is None
        except ValueError:
            naive = False
        if naive:
            return v.instant({name: value, "timezone": venue.timezone}, name)
    return v.instant(body, name)


def _blackout_json(record: BlackoutRecord, venue: Venue) -> dict[str, Any]:
    return {
        "id": record.id,
        "venue_id": record.venue_id,
        "start": z(record.start),
        "end": z(record.end),
        "reason": record.reason,
        "local": {
            "start": zones.utc_offset_iso(record.start, venue.timezone),
            "end": zones.utc_offset_iso(record.end, venue.timezone),
            "timezone": venue.timezone,
        },
    }


RULE_LIMITS = {
    "grid_minutes": (5, 60),
    "min_duration_minutes": (5, 240),
    "max_duration_minutes": (5, 480),
    "buffer_minutes": (0, 120),
    "min_notice_minutes": (0, 7 * 24 * 60),
    "max_advance_days": (1, 365),
    "weekly_quota_minutes": (15, 7 * 24 * 60),
    "max_session_minutes": (15, 24 * 60),
}


#: E-mail reminders: at most this many, each 5 minutes to 7 days before the start.
MAX_REMINDERS, REMINDER_LIMITS = 4, (5, 7 * 24 * 60)


def _reminder_minutes(raw: Any) -> list[int]:
    name = "rules.reminder_minutes"
    if not isinstance(raw, list) or len(raw) > MAX_REMINDERS:
        raise InvalidInput(
            f"{name} must be a list of at most {MAX_REMINDERS} delays in minutes, e.g. [1440, 60]; [] for none",
            field=name,
        )
    return sorted(
        {v.integer(item, name, low=REMINDER_LIMITS[0], high=REMINDER_LIMITS[1]) for item in raw}, reverse=True
    )


def _rules(body: dict[str, Any]) -> dict[str, Any]:
    """Overrides of the server-wide default rules, each named and bounded."""
    value = body.get("rules", {})
    if not isinstance(value, dict):
        raise InvalidInput('rules must be an object such as {"buffer_minutes": 15}', field="rules")
    rules: dict[str, Any] = {}
    for name, raw in value.items():
        if name == "reminder_minutes":
            rules[name] = _reminder_minutes(raw)
            continue
        if name not in RULE_LIMITS:
            known = ", ".join([*RULE_LIMITS, "reminder_minutes"])
            raise InvalidInput(f"rules: unknown rule {name!r}; use {known}", field="rules")
        low, high = RULE_LIMITS[name]
        rules[name] = v.integer(raw, f"rules.{name}", low=low, high=high)
    return rules


@routes.post("/api/v1/venues")
async def create_venue(request: web.Request) -> web.Response:
    """Admins add a venue; a new sister city is data like this, not code."""
    actor = await auth.require_account(request)
    if actor.role is not Role.ADMIN:
        raise Forbidden("only an admin may add a venue", field="role")
    body = await v.read_json(request)
    timezone = v.required_text(body, "timezone", max_length=64)
    if not zones.is_known_zone(timezone):
        raise InvalidInput(
            f"timezone {timezone!r} is not an IANA time zone such as Europe/Paris",
            field="timezone",
            code="unknown_timezone",
        )
    country = v.required_text(body, "country", max_length=2).upper()
    subdivision = v.text(body, "subdivision", required=False, max_length=10)
    closures.check_region(country, subdivision.upper() if subdivision else None)
    if not isinstance(body.get("opening_hours"), dict):
        raise InvalidInput(
            'opening_hours is required, e.g. {"mon": [["09:00", "18:00"]]}',
            field="opening_hours",
            code="required",
        )
    try:
        hours = OpeningHours.from_json(body["opening_hours"])
    except ValueError as exc:
        raise InvalidInput(f"opening_hours: {exc}", field="opening_hours") from None
    name = v.required_text(body, "name")
    if any(venue.name == name for venue in await request.app[STORE].venues()):
        raise NameTaken(f"a venue named {name!r} already exists", field="name")
    venue_id = await request.app[STORE].create_venue(
        name=name,
        city=v.required_text(body, "city", max_length=100),
        timezone=timezone,
        country=country,
        subdivision=subdivision.upper() if subdivision else None,
        address=v.text(body, "address", required=False, max_length=300) or "",
        opening_hours=hours,
        rules=_rules(body),
    )
    venue = next(venue for venue in await request.app[STORE].venues() if venue.id == venue_id)
    return created(venue_json(venue), f"/api/v1/venues/{venue_id}")


@routes.patch(r"/api/v1/venues/{venue_id}")
async def update_venue(request: web.Request) -> web.Response:
    """Change opening hours (the whole week: a day left out is closed), name or address."""
    venue = await _venue(request)
    await _manager(request, venue)
    body = await v.read_json(request)
    known = {"opening_hours", "name", "address"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]} cannot be changed here; use {', '.join(sorted(known))}", field=unknown[0]
        )
    hours = None
    if "opening_hours" in body:
        if not isinstance(body["opening_hours"], dict):
            raise InvalidInput(
                'opening_hours must be an object such as {"mon": [["09:00", "19:00"]]}', field="opening_hours"
            )
        try:
            hours = OpeningHours.from_json(body["opening_hours"])
        except ValueError as exc:
            raise InvalidInput(f"opening_hours: {exc}", field="opening_hours") from None
    name = v.required_text(body, "name", max_length=200) if "name" in body else None
    address = v.text(body, "address", required=False, max_length=300) if "address" in body else None
    await VenueAdmin(request.app[STORE]).update_venue(
        venue.id, opening_hours=hours, name=name, address=address
    )
    return web.json_response(venue_json(await _venue(request)))


@routes.get(r"/api/v1/venues/{venue_id}/blackouts")
async def list_blackouts(request: web.Request) -> web.Response:
    venue = await _venue(request)
    records = await VenueAdmin(request.app[STORE]).blackouts(venue.id)
    return web.json_response({"blackouts": [_blackout_json(r, venue) for r in records]})


@routes.post(r"/api/v1/venues/{venue_id}/blackouts")
async def add_blackout(request: web.Request) -> web.Response:
    """Close the venue over a range; answers with the confirmed bookings that now fall in it."""
    venue = await _venue(request)
    await _manager(request, venue)
    body = await v.read_json(request)
    start = _local_instant(body, "start", venue)
    end = _local_instant(body, "end", venue)
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    if end - start > MAX_BLACKOUT:
        raise InvalidInput(f"a blackout lasts at most {MAX_BLACKOUT.days} days", field="end")
    reason = v.required_text(body, "reason", max_length=200)
    admin = VenueAdmin(request.app[STORE])
    record = await admin.add_blackout(venue.id, start, end, reason)
    affected = await admin.bookings_in_venue(venue.id, start, end)
    return created(
        _blackout_json(record, venue) | {"affected_bookings": affected},
        f"/api/v1/venues/{venue.id}/blackouts/{record.id}",
    )


@routes.delete(r"/api/v1/venues/{venue_id}/blackouts/{blackout_id}")
async def delete_blackout(request: web.Request) -> web.Response:
    venue = await _venue(request)
    await _manager(request, venue)
    blackout_id = v.integer(request.match_info["blackout_id"], "blackout_id", low=1, high=2**31 - 1)
    await VenueAdmin(request.app[STORE]).delete_blackout(venue.id, blackout_id)
    return web.Response(status=204)


@routes.get(r"/api/v1/venues/{venue_id}/utilization")
async def utilization(request: web.Request) -> web.Response:
    """Booked over open minutes per booth and local week (Monday to Sunday in the venue's zone)."""
    venue = await _venue(request)
    await _manager(request, venue)
    weeks = v.integer(request.query.get("weeks", "8"), "weeks", low=1, high=MAX_WEEKS)
    if "from" in request.query:
        first = monday_of(v.day(request.query["from"], "from"))
    else:
        today = zones.to_local(request.app[CLOCK].now(), venue.timezone).date()
        first = monday_of(today) - timedelta(weeks=weeks - 1)
    mondays = [first + timedelta(weeks=n) for n in range(weeks)]
    booths = [b for b in await request.app[STORE].booths() if b.venue.id == venue.id]
    # A day of margin on each side covers any zone's offset; the pure code clips to local weeks.
    lo = datetime.combine(first - timedelta(days=1), datetime.min.time(), UTC)
    hi = lo + timedelta(weeks=weeks, days=2)
    holds = await VenueAdmin(request.app[STORE]).holds([b.id for b in booths], lo, hi)
    result = weekly_utilization(venue, booths, mondays, holds)
    return web.json_response(
        {
            "venue_id": venue.id,
            "timezone": venue.timezone,
            "weeks": [
                {
                    "week_start": week.monday.isoformat(),
                    "start": z(week.range.start),
                    "end": z(week.range.end),
                    "booths": [
                        {
                            "booth_id": b.booth_id,
                            "name": b.booth_name,
                            "booked_minutes": int(b.booked.total_seconds() // 60),
                            "open_minutes": int(b.open.total_seconds() // 60),
                            "utilization": None if b.ratio is None else round(b.ratio, 4),
                        }
                        for b in week.booths
                    ],
                }
                for week in result
            ],
        }
    )

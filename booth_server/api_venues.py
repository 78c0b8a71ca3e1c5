"""Venue administration: opening hours, blackouts and utilization, for the venue's staff or admins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from scheduler import policy, zones
from scheduler.errors import Forbidden, InvalidInput, NotFound
from scheduler.model import Account, OpeningHours, Venue
from scheduler.utilization import monday_of, weekly_utilization
from scheduler.venue_admin import BlackoutRecord, VenueAdmin

from . import auth
from . import validation as v
from .keys import CLOCK, STORE
from .serialize import venue_json, z

routes = web.RouteTableDef()

MAX_BLACKOUT = timedelta(days=400)
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
        "local": {"start": zones.utc_offset_iso(record.start, venue.timezone),
                  "end": zones.utc_offset_iso(record.end, venue.timezone), "timezone": venue.timezone},
    }


@routes.patch(r"/api/v1/venues/{venue_id}")
async def update_venue(request: web.Request) -> web.Response:
    """Change opening hours (the whole week: a day left out is closed), name or address."""
    venue = await _venue(request)
    await _manager(request, venue)
    body = await v.read_json(request)
    known = {"opening_hours", "name", "address"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(f"{unknown[0]} cannot be changed here; use {', '.join(sorted(known))}", field=unknown[0])
    hours = None
    if "opening_hours" in body:
        if not isinstance(body["opening_hours"], dict):
            raise InvalidInput('opening_hours must be an object such as {"mon": [["09:00", "19:00"]]}',
                               field="opening_hours")
        try:
            hours = OpeningHours.from_json(body["opening_hours"])
        except ValueError as exc:
            raise InvalidInput(f"opening_hours: {exc}", field="opening_hours") from None
    name = v.required_text(body, "name", max_length=200) if "name" in body else None
    address = v.text(body, "address", required=False, max_length=300) if "address" in body else None
    await VenueAdmin(request.app[STORE]).update_venue(venue.id, opening_hours=hours, name=name, address=address)
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
    response = web.json_response(_blackout_json(record, venue) | {"affected_bookings": affected}, status=201)
    response.headers["Location"] = f"/api/v1/venues/{venue.id}/blackouts/{record.id}"
    return response


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
    return web.json_response({
        "venue_id": venue.id,
        "timezone": venue.timezone,
        "weeks": [
            {
                "week_start": week.monday.isoformat(),
                "start": z(week.range.start),
                "end": z(week.range.end),
                "booths": [
                    {"booth_id": b.booth_id, "name": b.booth_name,
                     "booked_minutes": int(b.booked.total_seconds() // 60),
                     "open_minutes": int(b.open.total_seconds() // 60),
                     "utilization": None if b.ratio is None else round(b.ratio, 4)}
                    for b in week.booths
                ],
            }
            for week in result
        ],
    })

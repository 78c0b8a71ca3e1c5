"""Venues, booths and availability: public, read-only."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from scheduler import zones
from scheduler.errors import InvalidInput

from . import auth
from . import validation as v
from .keys import CLOCK, STORE
from .serialize import booth_json, local, venue_json, z

routes = web.RouteTableDef()


@routes.get("/api/v1/venues")
async def list_venues(request: web.Request) -> web.Response:
    venues = await request.app[STORE].venues()
    return web.json_response({"venues": [venue_json(venue) for venue in venues]})


@routes.get("/api/v1/booths")
async def list_booths(request: web.Request) -> web.Response:
    booths = await request.app[STORE].booths()
    return web.json_response({"booths": [booth_json(booth) for booth in booths]})


@routes.get("/api/v1/availability")
async def availability(request: web.Request) -> web.Response:
    query = request.query
    if "booths" not in query:
        raise InvalidInput("booths is required, e.g. booths=1,3", field="booths", code="required")
    booth_ids = v.id_list(query["booths"], "booths")
    day_from = v.day(query.get("from"), "from")
    day_to = v.day(query.get("to"), "to")
    duration = v.integer(query.get("duration", "60"), "duration", low=1, high=24 * 60)
    days_tz = query.get("timezone")
    if days_tz is not None and not zones.is_known_zone(days_tz):
        raise InvalidInput(
            f"timezone {days_tz!r} is not an IANA time zone", field="timezone", code="unknown_timezone"
        )
    ignore_booking = None
    if "ignore_booking" in query:
        # Only someone who may see the booking learns where its holds are.
        ignore_booking = v.integer(query["ignore_booking"], "ignore_booking", low=1, high=2**31 - 1)
        await request.app[STORE].booking(ignore_booking, await auth.require_account(request))
    booths, slots = await request.app[STORE].availability(
        booth_ids,
        day_from,
        day_to,
        timedelta(minutes=duration),
        request.app[CLOCK].now(),
        days_tz,
        ignore_booking=ignore_booking,
    )
    return web.json_response(
        {
            "booths": [booth_json(b) for b in booths],
            "duration_minutes": duration,
            "slots": [
                {
                    "start": z(s.start),
                    "end": z(s.end),
                    "local": {str(b.id): local(b, s.start, s.end) for b in booths},
                }
                for s in slots
            ],
        }
    )

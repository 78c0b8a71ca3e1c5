"""Live sessions for staff: which booths are online, and extending a running session."""

from __future__ import annotations

import logging

from aiohttp import web

from . import auth
from . import validation as v
from .keys import BOOKINGS, CLOCK, SIGNALLING, STORE
from .serialize import booking_json, z

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_EXTENSION_MINUTES = 240


@routes.get(r"/api/v1/venues/{venue_id}/presence")
async def venue_presence(request: web.Request) -> web.Response:
    """Each booth of the venue: offline, idle, in_room or reconnecting, which booking, since when."""
    _, venue_id = await auth.require_venue_staff(request, "its booths' presence")
    store = request.app[STORE]
    booths = sorted(
        (b for b in (await store.catalog()).values() if b.venue.id == venue_id), key=lambda b: b.id
    )
    names = {b.id: b.name for b in booths}
    states = await request.app[SIGNALLING].presence(names)
    return web.json_response(
        {
            "venue_id": venue_id,
            "generated_at": z(request.app[CLOCK].now()),
            "booths": [
                {
                    "booth_id": p.booth_id,
                    "name": names[p.booth_id],
                    "online": p.state in ("idle", "in_room"),
                    "state": p.state,
                    "booking_id": p.booking_id,
                    "since": z(p.since) if p.since else None,
                }
                for p in states
            ],
        }
    )


@routes.post(r"/api/v1/bookings/{booking_id}/extend")
async def extend_booking(request: web.Request) -> web.Response:
    """Move the end of a session later (staff of a booked venue or an admin).

    A booking change like any other (sequence + 1, checked for conflicts: 409 when a booth is
    taken after it), recorded with an override reason; the live room tells both booths.
    """
    actor = await auth.require_account(request)
    booking_id = v.integer(request.match_info["booking_id"], "id", low=1, high=2**31 - 1)
    body = await v.read_json(request)
    minutes = v.integer(body.get("minutes"), "minutes", low=1, high=MAX_EXTENSION_MINUTES)
    note = v.text(body, "reason", required=False, max_length=300)
    view = await request.app[BOOKINGS].extend(booking_id, minutes, note, actor)
    return web.json_response(booking_json(view))

"""What a paired kiosk shows beyond the signalling ``schedule``: its own name and city, and who
booked its coming sessions (title, organizer's company), over HTTP.

The booth authenticates with ``Authorization: Device <key>`` (never a query string: keys must
not end up in access logs). The websocket stays the source of truth for joining; this is only
for display, and lets the kiosk check a key before it keeps it.
"""

from __future__ import annotations

from aiohttp import web

from scheduler.errors import Unauthorized
from scheduler.model import BookingStatus
from webrtc.limits import SCHEDULE_HORIZON

from . import booth_auth
from .auth import secret_hash
from .keys import CLOCK, DEVICES, STORE
from .serialize import booth_json, local, z

routes = web.RouteTableDef()


@routes.get("/api/v1/kiosk")
async def kiosk(request: web.Request) -> web.Response:
    """The booth behind the device key and its sessions of the next 24 hours."""
    key = booth_auth.device_key_from_header(request.headers.get("Authorization"))
    found = await request.app[DEVICES].find(secret_hash(key)) if key else None
    if found is None:
        raise Unauthorized(
            "send the booth's device key as 'Authorization: Device <key>'; this one is unknown or revoked",
            field="device_key",
            code="unauthorized",
        )
    store, now = request.app[STORE], request.app[CLOCK].now()
    await request.app[DEVICES].seen(found.id, now)
    booth = (await store.catalog())[found.booth_id]
    views = await store.bookings_of_booths([booth.id], now, now + SCHEDULE_HORIZON)
    return web.json_response(
        {
            "booth": booth_json(booth),
            "server_time": z(now),
            "sessions": [
                {
                    "booking_id": view.id,
                    "title": view.title,
                    "organizer": {"name": view.organizer_name, "company": view.organizer_company},
                    "start": z(view.start),
                    "end": z(view.end),
                    "booths": [
                        booth_json(b) | {"local": local(b, view.start, view.end)} for b in view.booths
                    ],
                }
                for view in views
                if view.status is BookingStatus.CONFIRMED and view.end > now
            ],
        }
    )

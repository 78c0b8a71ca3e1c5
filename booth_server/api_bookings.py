"""Bookings: create, read, reschedule, cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from scheduler.errors import InvalidInput
from scheduler.store import BookingChange, NewBooking

from . import auth
from . import validation as v
from .keys import BOOKINGS, STORE
from .serialize import booking_json, created

routes = web.RouteTableDef()

MAX_DURATION_MINUTES = 24 * 60


def _duration(body: dict[str, Any]) -> timedelta:
    return timedelta(
        minutes=v.integer(body.get("duration_minutes"), "duration_minutes", low=1, high=MAX_DURATION_MINUTES)
    )


def _override(body: dict[str, Any]) -> str | None:
    return v.text(body, "override_reason", required=False, max_length=500) or None


def _booking_id(request: web.Request) -> int:
    return v.integer(request.match_info["booking_id"], "id", low=1, high=2**31 - 1)


@routes.post("/api/v1/bookings")
async def create_booking(request: web.Request) -> web.Response:
    actor = await auth.require_account(request)
    body = await v.read_json(request)
    if "booths" not in body:
        raise InvalidInput(
            "booths is required: the ids of one booth in each city", field="booths", code="required"
        )
    booth_ids = v.id_list(body["booths"], "booths")
    start = v.instant(body, "start")
    if "duration_minutes" not in body:
        raise InvalidInput("duration_minutes is required", field="duration_minutes", code="required")
    key = request.headers.get("Idempotency-Key") or v.text(body, "idempotency_key", required=False)
    spec = NewBooking(
        booth_ids=booth_ids,
        start=start,
        end=start + _duration(body),
        title=v.required_text(body, "title"),
        guests=v.emails(body, "guests") or (),
        idempotency_key=key,
        override_reason=_override(body),
    )
    view, is_new = await request.app[BOOKINGS].create(spec, actor)
    response = created(booking_json(view), f"/api/v1/bookings/{view.id}")
    if not is_new:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@routes.get("/api/v1/bookings")
async def list_bookings(request: web.Request) -> web.Response:
    actor = await auth.require_account(request)
    query: dict[str, Any] = dict(request.query)
    start = v.instant(query, "from") if "from" in query else None
    end = v.instant(query, "to") if "to" in query else None
    views = await request.app[STORE].bookings_for(actor, start=start, end=end)
    return web.json_response({"bookings": [booking_json(view) for view in views]})


@routes.get(r"/api/v1/bookings/{booking_id}")
async def get_booking(request: web.Request) -> web.Response:
    actor = await auth.require_account(request)
    view = await request.app[STORE].booking(_booking_id(request), actor)
    return web.json_response(booking_json(view))


@routes.patch(r"/api/v1/bookings/{booking_id}")
async def change_booking(request: web.Request) -> web.Response:
    actor = await auth.require_account(request)
    booking_id = _booking_id(request)
    body = await v.read_json(request)
    known = {"start", "timezone", "duration_minutes", "booths", "title", "guests", "override_reason"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]} cannot be changed; use {', '.join(sorted(known))}", field=unknown[0]
        )
    start = end = None
    if "start" in body or "duration_minutes" in body:
        current = await request.app[STORE].booking(booking_id, actor)
        start = v.instant(body, "start") if "start" in body else current.start
        end = start + (_duration(body) if "duration_minutes" in body else current.end - current.start)
    change = BookingChange(
        start=start,
        end=end,
        booth_ids=v.id_list(body["booths"], "booths") if "booths" in body else None,
        title=v.required_text(body, "title") if "title" in body else None,
        guests=v.emails(body, "guests"),
        override_reason=_override(body),
    )
    view = await request.app[BOOKINGS].change(booking_id, change, actor)
    return web.json_response(booking_json(view))


@routes.delete(r"/api/v1/bookings/{booking_id}")
async def cancel_booking(request: web.Request) -> web.Response:
    actor = await auth.require_account(request)
    view = await request.app[BOOKINGS].cancel(_booking_id(request), actor)
    return web.json_response(booking_json(view))

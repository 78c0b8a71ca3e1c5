"""Booth health for staff: the last self-test of each booth, alerts, "test now", and the
quality summary of a session (docs/api.md, docs/selftest.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from scheduler import policy
from scheduler.errors import Forbidden, NotFound
from scheduler.health import SelfTestRecord
from webrtc.messages import SelfTestTrigger

from . import auth
from . import validation as v
from .errors import error_response
from .keys import CLOCK, SIGNALLING, STORE
from .quality import CALL_QUALITY
from .selftest import SELFTESTS
from .serialize import z

routes = web.RouteTableDef()

#: A booth with a session starting within this long is alerted on when offline or poor.
ALERT_HORIZON = timedelta(hours=1)


def selftest_json(record: SelfTestRecord) -> dict[str, Any]:
    return {
        "test_id": record.test_id,
        "trigger": record.trigger,
        "booking_id": record.booking_id,
        "started_at": z(record.started_at),
        "finished_at": z(record.finished_at),
        "verdict": record.verdict,
        "score": record.score,
        "figures": record.figures,
        "paths": record.paths,
        "problems": record.problems,
    }


async def _venue_of_booth(request: web.Request, booth_id: int) -> int:
    booth = (await request.app[STORE].catalog()).get(booth_id)
    if booth is None:
        raise NotFound(f"there is no booth with id {booth_id}", field="booth_id")
    return booth.venue.id


@routes.get("/api/v1/health/booths")
async def booth_health(request: web.Request) -> web.Response:
    """Each booth the caller manages: online state, its last self-test, and an alert when a
    session starts within the hour and the booth is offline or its last verdict is poor."""
    actor = await auth.require_account(request)
    store, now = request.app[STORE], request.app[CLOCK].now()
    booths = sorted(
        (b for b in (await store.catalog()).values() if policy.can_manage_venue(actor, b.venue.id)),
        key=lambda b: b.id,
    )
    if not booths:
        raise Forbidden("only venue staff and admins see booth health")
    ids = [b.id for b in booths]
    latest = await request.app[SELFTESTS].health.latest(ids)
    presence = {p.booth_id: p for p in await request.app[SIGNALLING].presence(ids)}
    upcoming: dict[int, Any] = {}
    for view in await store.bookings_of_booths(ids, now, now + ALERT_HORIZON):
        if view.status == "confirmed" and view.start >= now - timedelta(minutes=5):
            for booth in view.booths:
                upcoming.setdefault(booth.id, view)
    out = []
    for booth in booths:
        state = presence[booth.id].state
        online = state in ("idle", "in_room")
        last = latest.get(booth.id)
        next_session = upcoming.get(booth.id)
        alert = None
        if next_session is not None and not online:
            alert = "offline"
        elif next_session is not None and (last is None or last.verdict == "poor"):
            alert = "poor" if last is not None else "untested"
        out.append(
            {
                "booth_id": booth.id,
                "name": booth.name,
                "venue_id": booth.venue.id,
                "city": booth.venue.city,
                "online": online,
                "state": state,
                "last_selftest": selftest_json(last) if last else None,
                "next_session": (
                    {"booking_id": next_session.id, "start": z(next_session.start)} if next_session else None
                ),
                "alert": alert,
            }
        )
    return web.json_response({"generated_at": z(now), "booths": out})


@routes.get(r"/api/v1/booths/{booth_id}/selftests")
async def booth_selftests(request: web.Request) -> web.Response:
    """The booth's last 20 self-tests, newest first."""
    actor = await auth.require_account(request)
    booth_id = v.integer(request.match_info["booth_id"], "booth_id", low=1, high=2**31 - 1)
    if not policy.can_manage_venue(actor, await _venue_of_booth(request, booth_id)):
        raise Forbidden("only staff of this booth's venue or an admin", field="booth_id")
    records = await request.app[SELFTESTS].health.history(booth_id)
    return web.json_response({"booth_id": booth_id, "selftests": [selftest_json(r) for r in records]})


@routes.post(r"/api/v1/booths/{booth_id}/selftest")
async def request_selftest(request: web.Request) -> web.Response:
    """Ask the booth to test itself now (202); 409 when it is offline, in a call, already
    testing, or a client that does not run self-tests."""
    actor = await auth.require_account(request)
    booth_id = v.integer(request.match_info["booth_id"], "booth_id", low=1, high=2**31 - 1)
    if not policy.can_manage_venue(actor, await _venue_of_booth(request, booth_id)):
        raise Forbidden("only staff of this booth's venue or an admin", field="booth_id")
    if not request.app[SELFTESTS].request(booth_id, SelfTestTrigger.STAFF):
        return error_response(
            409,
            "booth_unavailable",
            "the booth cannot test now: it is offline, in a call, already testing, "
            "or its client does not run self-tests",
            "booth_id",
        )
    return web.json_response({"booth_id": booth_id, "requested": True}, status=202)


@routes.get(r"/api/v1/bookings/{booking_id}/quality")
async def booking_quality(request: web.Request) -> web.Response:
    """The session's call quality from its kiosks' ``call_stats``: medians, p95 round trip,
    verdict, overall and per booth."""
    actor = await auth.require_account(request)
    booking_id = v.integer(request.match_info["booking_id"], "booking_id", low=1, high=2**31 - 1)
    view = await request.app[STORE].booking(booking_id)
    if not (
        policy.can_view(actor, view) or any(policy.can_manage_venue(actor, b.venue.id) for b in view.booths)
    ):
        raise Forbidden("only the organizer, staff of a booked venue or an admin", field="booking_id")
    return web.json_response(await request.app[CALL_QUALITY].summary(booking_id))

"""Booths and their device keys: staff of the booth's venue (or an admin) add booths and pair them.

A device key is shown once, in the answer that creates it; only its SHA-256 is stored. Issuing
a new key rotates: the previous key stops working at once and the booth's live sockets that
used it are closed with ``unauthorized`` (4001).
"""

from __future__ import annotations

import logging

from aiohttp import web

from scheduler import policy
from scheduler.devices import create_booth
from scheduler.errors import Forbidden, InvalidInput, NotFound
from scheduler.model import Account, Booth, Role

from . import auth, booth_auth
from . import validation as v
from .keys import CLOCK, DEVICES, SIGNALLING, STORE
from .serialize import booth_json, z

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


async def _managed_booth(request: web.Request, actor: Account) -> Booth:
    booth_id = v.integer(request.match_info["booth_id"], "booth_id", low=1, high=2**31 - 1)
    booth = (await request.app[STORE].catalog()).get(booth_id)
    if booth is None:
        raise NotFound(f"there is no booth with id {booth_id}", field="booth_id")
    if not policy.can_manage_venue(actor, booth.venue.id):
        raise Forbidden("only staff of this booth's venue or an admin may pair it", field="booth_id")
    return booth


@routes.post("/api/v1/booths")
async def add_booth(request: web.Request) -> web.Response:
    actor = await auth.require_account(request)
    if actor.role is Role.ENTREPRENEUR:
        raise Forbidden("only staff or an admin may add booths")
    body = await v.read_json(request)
    name = v.required_text(body, "name", max_length=100)
    if "venue_id" in body:
        venue_id = v.integer(body["venue_id"], "venue_id", low=1, high=2**31 - 1)
    elif actor.venue_id is not None:
        venue_id = actor.venue_id
    else:
        raise InvalidInput("venue_id is required", field="venue_id", code="required")
    store = request.app[STORE]
    if venue_id not in {venue.id for venue in await store.venues()}:
        raise InvalidInput(f"there is no venue with id {venue_id}", field="venue_id")
    if not policy.can_manage_venue(actor, venue_id):
        raise Forbidden("staff may add booths to their own venue only", field="venue_id")
    booth_id = await create_booth(store, venue_id, name)
    log.info("booth %d added to venue %d by account %d", booth_id, venue_id, actor.id)
    return web.json_response(booth_json((await store.catalog())[booth_id]), status=201)


@routes.get(r"/api/v1/venues/{venue_id}/device-keys")
async def venue_device_keys(request: web.Request) -> web.Response:
    """Which booths of the venue have a live device key, since when, and when each was last used."""
    _, venue_id = await auth.require_venue_staff(request, "its device keys")
    store = request.app[STORE]
    booth_ids = sorted(b.id for b in (await store.catalog()).values() if b.venue.id == venue_id)
    statuses = {s.booth_id: s for s in await request.app[DEVICES].statuses(booth_ids)}
    return web.json_response(
        {
            "venue_id": venue_id,
            "booths": [
                {
                    "booth_id": booth_id,
                    "issued_at": z(statuses[booth_id].issued_at) if booth_id in statuses else None,
                    "last_seen_at": z(seen)
                    if booth_id in statuses and (seen := statuses[booth_id].last_seen_at)
                    else None,
                }
                for booth_id in booth_ids
            ],
        }
    )


@routes.post(r"/api/v1/booths/{booth_id}/device-key")
async def issue_device_key(request: web.Request) -> web.Response:
    """Pair (or re-pair) a booth: a new device key, shown once; any previous key is revoked."""
    actor = await auth.require_account(request)
    booth = await _managed_booth(request, actor)
    key, key_hash = booth_auth.new_device_key()
    record, replaced = await request.app[DEVICES].issue(
        booth.id, key_hash, actor.id, request.app[CLOCK].now()
    )
    request.app[SIGNALLING].revoke(booth.id, keep_key_id=record.id)
    log.info(
        "device key %d of booth %d issued by account %d (%d replaced)",
        record.id,
        booth.id,
        actor.id,
        replaced,
    )
    return web.json_response(
        {
            "booth_id": booth.id,
            "device_key": key,
            "created_at": z(record.created_at),
            "replaced": replaced > 0,
        },
        status=201,
    )


@routes.delete(r"/api/v1/booths/{booth_id}/device-key")
async def revoke_device_key(request: web.Request) -> web.Response:
    """Unpair a booth: its key stops working and its sockets are closed (4001)."""
    actor = await auth.require_account(request)
    booth = await _managed_booth(request, actor)
    revoked = await request.app[DEVICES].revoke(booth.id, request.app[CLOCK].now())
    request.app[SIGNALLING].revoke(booth.id)
    log.info("device key of booth %d revoked by account %d (%d keys)", booth.id, actor.id, revoked)
    return web.Response(status=204)

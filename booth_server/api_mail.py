"""Mail in the API: an account's mail settings, and a venue's outbox for its staff."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from aiohttp import web

from scheduler import policy, zones
from scheduler.errors import Forbidden, InvalidInput, NotFound
from scheduler.mail import LANGUAGES
from scheduler.outbox import STATUSES, IntentEntry, MailSettings, OutboxEntry

from . import auth
from . import validation as v
from .keys import OUTBOX, STORE
from .serialize import z

routes = web.RouteTableDef()

MAX_OUTBOX_PAGE = 500


def _settings_json(settings: MailSettings) -> dict[str, Any]:
    return {"language": settings.language, "timezone": settings.timezone, "reminders": settings.reminders}


def _row_json(entry: OutboxEntry | IntentEntry) -> dict[str, Any]:
    """An outbox message or change as the API shows it: its fields, instants in RFC 3339 UTC."""
    values = {f.name: getattr(entry, f.name) for f in fields(entry)}
    return {name: z(value) if isinstance(value, datetime) else value for name, value in values.items()}


@routes.get("/api/v1/me/mail-settings")
async def get_settings(request: web.Request) -> web.Response:
    account = await auth.require_account(request)
    return web.json_response(_settings_json(await request.app[OUTBOX].settings(account.id)))


@routes.patch("/api/v1/me/mail-settings")
async def change_settings(request: web.Request) -> web.Response:
    """Language and time zone of the account's messages, and whether it gets reminders."""
    account = await auth.require_account(request)
    body = await v.read_json(request)
    known = {"language", "timezone", "reminders"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]} is not a mail setting; use {', '.join(sorted(known))}", field=unknown[0]
        )
    current = await request.app[OUTBOX].settings(account.id)
    language, timezone, reminders = current.language, current.timezone, current.reminders
    if "language" in body:
        if body["language"] not in LANGUAGES:
            raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", field="language")
        language = body["language"]
    if "timezone" in body:
        timezone = body["timezone"]
        if timezone is not None and (not isinstance(timezone, str) or not zones.is_known_zone(timezone)):
            raise InvalidInput(
                f"timezone {timezone!r} is not an IANA time zone such as Europe/Berlin, or null",
                field="timezone",
                code="unknown_timezone",
            )
    if "reminders" in body:
        if not isinstance(body["reminders"], bool):
            raise InvalidInput("reminders must be true or false", field="reminders")
        reminders = body["reminders"]
    settings = MailSettings(language, timezone, reminders)
    await request.app[OUTBOX].save_settings(account.id, settings)
    return web.json_response(_settings_json(settings))


@routes.get(r"/api/v1/venues/{venue_id}/outbox")
async def venue_outbox(request: web.Request) -> web.Response:
    """The messages about the venue's bookings, newest first, and the changes whose messages are
    not composed (yet): staff of the venue and admins."""
    actor = await auth.require_account(request)
    venue_id = v.integer(request.match_info["venue_id"], "venue_id", low=1, high=2**31 - 1)
    if venue_id not in {venue.id for venue in await request.app[STORE].venues()}:
        raise NotFound(f"there is no venue with id {venue_id}", field="venue_id")
    if not policy.can_manage_venue(actor, venue_id):
        raise Forbidden("only staff of this venue or an admin may see its outbox", field="venue_id")
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    limit = v.integer(request.query.get("limit", "100"), "limit", low=1, high=MAX_OUTBOX_PAGE)
    outbox = request.app[OUTBOX]
    entries = await outbox.entries(venue_id=venue_id, status=status, limit=limit)
    changes = (
        []
        if status not in (None, "pending", "failed")
        else await outbox.changes(venue_id=venue_id, status=status)
    )
    return web.json_response(
        {
            "venue_id": venue_id,
            "messages": [_row_json(e) for e in entries],
            "changes": [_row_json(c) for c in changes],
        }
    )

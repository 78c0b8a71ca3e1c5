"""Calendars over HTTP: a booking's ``.ics``, subscription feeds and their tokens, free/busy.

* ``GET /api/v1/bookings/{id}.ics[?method=publish|request|cancel]``: one booking, for whoever may
  see it.
* ``/api/v1/feeds``: an account's feed tokens (create, list, rotate, revoke). The secret is shown
  once, in the answer that makes it; only its SHA-256 is stored.
* ``GET /feeds/organizer/{token}.ics``, ``/feeds/venue/{token}.ics`` (full details) and
  ``/feeds/booths/{id}.ics`` (public, busy-only): feeds for calendar clients, with a strong ETag
  and Last-Modified so that a poll of an unchanged feed is answered ``304`` after reading one row
  of ``feed_versions`` (kept by database triggers), without reading, loading or rendering a
  booking (see :class:`scheduler.feeds.FeedVersion`).
* ``GET /feeds/booths/{id}/freebusy.ics?from=&to=``: a VFREEBUSY of one booth.

Feed tokens ride in URLs; :mod:`booth_server.logs` redacts them from the access log, and nothing
here logs a URL or a token.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from scheduler import ical, policy, zones
from scheduler.errors import Forbidden, InvalidInput, NotFound
from scheduler.feeds import FeedRepository, FeedSubject, FeedToken, FeedVersion, feed_day, last_change
from scheduler.model import Account, BookingStatus, Booth, Venue
from scheduler.store import BookingStateError

from . import auth
from . import validation as v
from .keys import CLOCK, CONFIG, DATABASE, STORE
from .serialize import z

routes = web.RouteTableDef()

#: Part of every feed ETag: raise it when the rendering of feeds changes, so that clients that
#: cached the old bytes fetch the new ones.
FEED_RENDER_VERSION = 1
TOKENED_CACHE = "private, max-age=900"
PUBLIC_CACHE = "public, max-age=900"
FREEBUSY_CACHE = "public, max-age=300"
FREEBUSY_MAX_DAYS = 92
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,128}")
_METHODS = ("PUBLISH", "REQUEST", "CANCEL")
_MAX_ID = 2**31 - 1


def _feeds(request: web.Request) -> FeedRepository:
    return FeedRepository(request.app[DATABASE])


def _origin(request: web.Request) -> str:
    """The origin people reach the server at: the configured one, else this request's."""
    config = request.app[CONFIG]
    if config.public_origin:
        return config.origin
    return f"{request.scheme}://{request.host}"


def _feed_urls(request: web.Request, kind: str, token: str) -> dict[str, str]:
    url = f"{_origin(request)}/feeds/{kind}/{token}.ics"
    return {"https_url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}


# --------------------------------------------------------------------------- one booking


@routes.get(r"/api/v1/bookings/{booking_id:\d+}.ics")
async def booking_ics(request: web.Request) -> web.Response:
    """One booking as an ``.ics`` file: PUBLISH (default), REQUEST or CANCEL."""
    actor = await auth.require_account(request)
    booking_id = v.integer(request.match_info["booking_id"], "id", low=1, high=_MAX_ID)
    method = request.query.get("method", "publish").strip().upper()
    if method not in _METHODS:
        raise InvalidInput("method must be publish, request or cancel", field="method")
    view = await request.app[STORE].booking(booking_id, actor)
    cancelled = view.status is BookingStatus.CANCELLED
    if method == "REQUEST" and cancelled:
        raise BookingStateError(
            "this booking is cancelled: send its method=cancel form instead",
            field="method",
            code="booking_cancelled",
        )
    if method == "CANCEL" and not cancelled:
        raise BookingStateError(
            "this booking is not cancelled: cancel it first (DELETE the booking)",
            field="method",
            code="booking_not_cancelled",
        )
    body = ical.booking_ics(view, method=method)
    suffix = "" if method == "PUBLISH" else f"-{method.lower()}"
    return web.Response(
        body=body,
        headers={
            "Content-Type": ical.content_type(method),
            "Content-Disposition": f'attachment; filename="booking-{view.id}{suffix}.ics"',
        },
    )


# --------------------------------------------------------------------------- feed tokens


def _feed_json(feed: FeedToken) -> dict[str, Any]:
    return {
        "id": feed.id,
        "kind": feed.kind,
        "venue_id": feed.subject_id if feed.kind == "venue" else None,
        "created_at": z(feed.created_at),
    }


def _feed_id(request: web.Request) -> int:
    return v.integer(request.match_info["feed_id"], "id", low=1, high=_MAX_ID)


@routes.post("/api/v1/feeds")
async def create_feed(request: web.Request) -> web.Response:
    """``{"kind": "organizer"}`` or ``{"kind": "venue", "venue_id": 1}`` → 201 with the URLs and
    the token, shown this once."""
    actor = await auth.require_account(request)
    body = await v.read_json(request)
    kind = v.required_text(body, "kind", max_length=20)
    if kind == "organizer":
        if body.get("venue_id") is not None:
            raise InvalidInput("venue_id is only for kind venue", field="venue_id")
        subject_id = actor.id
    elif kind == "venue":
        if body.get("venue_id") is None:
            raise InvalidInput("venue_id is required for kind venue", field="venue_id", code="required")
        subject_id = v.integer(body["venue_id"], "venue_id", low=1, high=_MAX_ID)
        if not policy.can_manage_venue(actor, subject_id):
            raise Forbidden(
                "only staff of this venue or an admin may subscribe to its bookings", field="venue_id"
            )
        if await _venue(request, subject_id) is None:
            raise InvalidInput(
                f"there is no venue with id {subject_id}", field="venue_id", code="unknown_venue"
            )
    elif kind in ("booth", "booths"):
        raise InvalidInput(
            "booth feeds are public and need no token: /feeds/booths/{booth_id}.ics", field="kind"
        )
    else:
        raise InvalidInput("kind must be organizer or venue", field="kind")
    token, token_hash = auth.new_secret()
    feed = await _feeds(request).create(kind, subject_id, actor.id, token_hash, request.app[CLOCK].now())
    return web.json_response(
        _feed_json(feed) | _feed_urls(request, kind, token) | {"token": token}, status=201
    )


@routes.get("/api/v1/feeds")
async def list_feeds(request: web.Request) -> web.Response:
    """The account's live feeds, without their secrets (which are not stored)."""
    actor = await auth.require_account(request)
    return web.json_response({"feeds": [_feed_json(f) for f in await _feeds(request).list_for(actor.id)]})


@routes.post(r"/api/v1/feeds/{feed_id}/rotate")
async def rotate_feed(request: web.Request) -> web.Response:
    """A new secret for the feed; the old URL answers 404 from now on."""
    actor = await auth.require_account(request)
    token, token_hash = auth.new_secret()
    feed = await _feeds(request).rotate(_feed_id(request), actor.id, token_hash)
    return web.json_response(_feed_json(feed) | _feed_urls(request, feed.kind, token) | {"token": token})


@routes.delete(r"/api/v1/feeds/{feed_id}")
async def revoke_feed(request: web.Request) -> web.Response:
    actor = await auth.require_account(request)
    await _feeds(request).revoke(_feed_id(request), actor.id, request.app[CLOCK].now())
    return web.Response(status=204)


# --------------------------------------------------------------------------- conditional GET

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_M = "|".join(_MONTHS)
_HMS = r"(\d{2}):(\d{2}):(\d{2})"
_IMF_FIXDATE = re.compile(rf"(?:{'|'.join(_WEEKDAYS)}), (\d{{2}}) ({_M}) (\d{{4}}) {_HMS} GMT")
_RFC850_DATE = re.compile(rf"(?:{'|'.join(_LONG_WEEKDAYS)}), (\d{{2}})-({_M})-(\d{{2}}) {_HMS} GMT")
_ASCTIME_DATE = re.compile(rf"(?:{'|'.join(_WEEKDAYS)}) ({_M}) ([ \d]\d) {_HMS} (\d{{4}})")
_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


def parse_http_date(value: str, now: datetime) -> datetime | None:
    """An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms),
    as an aware UTC datetime; None when it is none of those or not a real date."""
    text = value.strip()
    try:
        if m := _IMF_FIXDATE.fullmatch(text):
            day, month, year, hh, mm, ss = m.groups()
        elif m := _RFC850_DATE.fullmatch(text):
            day, month, yy, hh, mm, ss = m.groups()
            # A two-digit year more than 50 years ahead is the most recent past year ending so.
            century = now.year // 100 * 100
            year_number = century + int(yy)
            if year_number > now.year + 50:
                year_number -= 100
            year = str(year_number)
        elif m := _ASCTIME_DATE.fullmatch(text):
            month, day, hh, mm, ss, year = m.groups()
        else:
            return None
        return datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError:
        return None


def http_date(instant: datetime) -> str:
    return format_datetime(instant.astimezone(UTC), usegmt=True)


def _entity_tags(header: str) -> list[str] | None:
    """The opaque tags of an If-None-Match list (weak or strong), or None if it does not parse."""
    tags, pos = [], 0
    while pos < len(header):
        m = _ENTITY_TAG.match(header, pos)
        if m is None or m.end() == pos:
            return None
        tags.append(m.group(1))
        pos = m.end()
    return tags


def if_none_match(request: web.Request, etag: str) -> bool | None:
    """None without If-None-Match; else whether it matches ``etag`` (RFC 9110 §13.1.2).

    Tags are compared weakly, as for GET (a client may send ``W/"x"``); ``*`` matches, since the
    feed exists; a list that does not parse matches nothing.
    """
    values = request.headers.getall("If-None-Match", [])
    if not values:
        return None
    header = ", ".join(values).strip()
    if header == "*":
        return True
    tags = _entity_tags(header)
    return tags is not None and etag.strip('"') in tags


def if_modified_since(request: web.Request, now: datetime) -> datetime | None:
    """The If-Modified-Since date, or None when absent, unreadable or in the future (ignored)."""
    header = request.headers.get("If-Modified-Since")
    since = None if header is None else parse_http_date(header, now)
    return since if since is not None and since <= now else None


def _last_modified_header(last_change: datetime | None, now: datetime) -> str | None:
    """Last-Modified for the feed: its last change rounded up to the second, sent only once that
    second is over, so that a later change always gets a later Last-Modified."""
    if last_change is None:
        return None
    rounded = last_change.replace(microsecond=0)
    if rounded < last_change:
        rounded += timedelta(seconds=1)
    return http_date(rounded) if rounded <= now else None


# --------------------------------------------------------------------------- feeds


_catalog_prints: dict[int, tuple[dict[int, Booth], str]] = {}


def _catalog_fingerprint(catalog: dict[int, Booth]) -> str:
    """What of the booths and venues the full feeds print (names, cities, zones, addresses), as
    a digest. Renames change the ETag this way rather than through feed_versions: the catalog is
    at hand (cached by the Store) and a rename would otherwise bump every feed that ever showed
    the booth. Memoized per catalog object (the Store replaces it on every reload)."""
    cached = _catalog_prints.get(id(catalog))
    if cached is not None and cached[0] is catalog:
        return cached[1]
    text = repr(
        sorted(
            (b.id, b.name, b.venue.id, b.venue.name, b.venue.city, b.venue.timezone, b.venue.address)
            for b in catalog.values()
        )
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    _catalog_prints.clear()  # one catalog is live at a time
    _catalog_prints[id(catalog)] = (catalog, digest)
    return digest


def _etag(
    subject: FeedSubject, name: str, shown: tuple[object, ...], version: FeedVersion, day: datetime
) -> str:
    parts = (
        FEED_RENDER_VERSION,
        ical.PRODID,
        subject.kind,
        subject.subject_id,
        name,
        shown,
        version.key(day),
    )
    return '"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:40] + '"'


async def _serve_feed(
    request: web.Request,
    subject: FeedSubject,
    *,
    name: str,
    cache_control: str,
    now: datetime | None = None,
    version: FeedVersion | None = None,
    shown: tuple[object, ...] = (),
) -> web.Response:
    """The feed, or 304 when the client's copy is current (RFC 9110 §13.2.2: If-None-Match, when
    present, decides alone). A poll costs the feed's row of ``feed_versions`` (read with the
    token by the caller, else here): no booking is read, loaded or rendered.

    The ETag covers the feed's kind, subject and name, ``shown`` (what else of the owner the
    feed prints), the booth and venue names it prints (the catalog), the rendering version, the
    feed version and the UTC day the feed is computed for (:func:`scheduler.feeds.feed_day`).
    """
    store, feeds = request.app[STORE], _feeds(request)
    now = now or request.app[CLOCK].now()
    day = feed_day(now)
    catalog = await store.catalog()
    if subject.kind != "booth":
        shown = (*shown, _catalog_fingerprint(catalog))
    if version is None:
        version = await feeds.version(subject)
    headers = {"Cache-Control": cache_control, "ETag": _etag(subject, name, shown, version, day)}
    matched = if_none_match(request, headers["ETag"])
    if matched:
        return web.Response(status=304, headers=headers)
    since = if_modified_since(request, now) if matched is None else None
    if since is not None:
        # Compared with the exact instant, not the whole second sent in Last-Modified.
        changed = last_change(version, day)
        if changed is not None and changed <= since:
            last_modified = _last_modified_header(changed, now)
            if last_modified:
                headers["Last-Modified"] = last_modified
            return web.Response(status=304, headers=headers)
    views, loaded = await feeds.load(subject, catalog, day)
    # The validators of a full answer describe the bookings sent, even if one changed since the
    # poll's read; without a consistent version (writes kept landing) the answer has none.
    del headers["ETag"]
    if loaded is not None:
        headers["ETag"] = _etag(subject, name, shown, loaded, day)
        last_modified = _last_modified_header(last_change(loaded, day), now)
        if last_modified:
            headers["Last-Modified"] = last_modified
    # The renderer keeps cancelled bookings by the same day as the query.
    render = functools.partial(ical.feed_ics, views, name=name, kind=subject.kind, now_for_retention=day)
    # Rendering thousands of events takes a while: off the event loop.
    body = await asyncio.get_running_loop().run_in_executor(None, render)
    headers["Content-Type"] = ical.content_type()
    return web.Response(body=body, headers=headers)


def _token_hash(request: web.Request) -> str:
    token = request.match_info["token"]
    if not _TOKEN.fullmatch(token):
        raise _no_feed()
    return auth.secret_hash(token)


def _no_feed() -> NotFound:
    return NotFound(
        "there is no feed at this address: its link may have been rotated or revoked", field="token"
    )


async def _open_feed(request: web.Request, kind: str) -> tuple[FeedToken, Account, FeedVersion]:
    """The live feed of the URL's token, its owner and its version; 404 for any other token."""
    found = await _feeds(request).open_feed(kind, _token_hash(request))
    if found is None:
        raise _no_feed()
    return found


@routes.get("/feeds/organizer/{token}.ics")
async def organizer_feed(request: web.Request) -> web.Response:
    """An organizer's own bookings, full details."""
    now = request.app[CLOCK].now()
    feed, owner, version = await _open_feed(request, "organizer")
    # The owner's e-mail and company are printed in every event (a rename also bumps the version).
    return await _serve_feed(
        request,
        FeedSubject("organizer", feed.subject_id),
        name=f"{owner.name}: booth sessions",
        cache_control=TOKENED_CACHE,
        now=now,
        version=version,
        shown=(owner.email, owner.company),
    )


@routes.get("/feeds/venue/{token}.ics")
async def venue_feed(request: web.Request) -> web.Response:
    """Every booking holding a booth of the venue, full details, for its staff and admins."""
    now = request.app[CLOCK].now()
    feed, owner, version = await _open_feed(request, "venue")
    # Checked on every fetch: staff moved to another venue lose the feeds of the old one.
    if not policy.can_manage_venue(owner, feed.subject_id):
        raise _no_feed()
    venue = await _venue(request, feed.subject_id)
    if venue is None:
        raise _no_feed()
    return await _serve_feed(
        request,
        FeedSubject("venue", venue.id),
        name=f"{venue.name} ({venue.city}): booth sessions",
        cache_control=TOKENED_CACHE,
        now=now,
        version=version,
    )


async def _venue(request: web.Request, venue_id: int) -> Venue | None:
    """The venue, from the cached catalog when it has booths (every poll), else from the database."""
    store = request.app[STORE]
    for booth in (await store.catalog()).values():
        if booth.venue.id == venue_id:
            return booth.venue
    return next((venue for venue in await store.venues() if venue.id == venue_id), None)


async def _booth(request: web.Request) -> Booth:
    booth_id = v.integer(request.match_info["booth_id"], "booth_id", low=1, high=_MAX_ID)
    booth = (await request.app[STORE].catalog()).get(booth_id)
    if booth is None:
        raise NotFound(f"there is no booth with id {booth_id}", field="booth_id")
    return booth


def _booth_label(booth: Booth) -> str:
    return f"{booth.name} ({booth.venue.name}, {booth.venue.city})"


@routes.get("/feeds/booths/{booth_id}.ics")
async def booth_feed(request: web.Request) -> web.Response:
    """When one booth is booked: public, busy-only (no title, name, e-mail or company)."""
    booth = await _booth(request)
    return await _serve_feed(
        request,
        FeedSubject("booth", booth.id),
        name=f"{_booth_label(booth)}: busy",
        cache_control=PUBLIC_CACHE,
    )


@routes.get("/feeds/booths/{booth_id}/freebusy.ics")
async def booth_freebusy(request: web.Request) -> web.Response:
    """A VFREEBUSY of one booth; ``from`` and ``to`` are dates, inclusive, in the booth's zone."""
    booth = await _booth(request)
    day_from = _freebusy_day(request, "from")
    day_to = _freebusy_day(request, "to")
    if day_to < day_from:
        raise InvalidInput("to must not be before from", field="to")
    if (day_to - day_from).days + 1 > FREEBUSY_MAX_DAYS:
        raise InvalidInput(f"from–to may span at most {FREEBUSY_MAX_DAYS} days", field="to")
    tz = booth.venue.timezone
    start = zones.local_span_to_utc(day_from, time(0), time(0), tz).start
    end = zones.local_span_to_utc(day_to, time(0), time(0), tz).end
    busy = await _feeds(request).busy(booth.id, start, end)
    body = ical.freebusy_ics(_booth_label(booth), busy, start, end, now=request.app[CLOCK].now())
    return web.Response(
        body=body, headers={"Content-Type": ical.content_type(), "Cache-Control": FREEBUSY_CACHE}
    )


def _freebusy_day(request: web.Request, name: str) -> date:
    return v.day(request.query.get(name), name)  # within 2000–2099 (scheduler.bounds)

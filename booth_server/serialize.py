"""JSON shapes of the API, one function per resource."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from scheduler import ical, zones
from scheduler.model import Account, BookingView, Booth, Venue


def created(body: dict[str, Any], location: str) -> web.Response:
    """``201 Created`` with the new resource's JSON and its URL in ``Location``."""
    response = web.json_response(body, status=201)
    response.headers["Location"] = location
    return response


def z(instant: datetime) -> str:
    """RFC 3339 in UTC; the year always has four digits (strftime's %Y drops the zeros before 1000)."""
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % instant.timetuple()[:6]  # noqa: UP031


def local(booth: Booth, start: datetime, end: datetime) -> dict[str, str]:
    tz = booth.venue.timezone
    return {"start": zones.utc_offset_iso(start, tz), "end": zones.utc_offset_iso(end, tz), "timezone": tz}


def venue_json(venue: Venue) -> dict[str, Any]:
    return {
        "id": venue.id,
        "name": venue.name,
        "city": venue.city,
        "timezone": venue.timezone,
        "country": venue.country,
        "subdivision": venue.subdivision,
        "address": venue.address,
        "opening_hours": venue.opening_hours.to_json(),
        "rules": {
            "grid_minutes": venue.rules.grid_minutes,
            "min_duration_minutes": venue.rules.min_duration_minutes,
            "max_duration_minutes": venue.rules.max_duration_minutes,
            "buffer_minutes": venue.rules.buffer_minutes,
            "min_notice_minutes": venue.rules.min_notice_minutes,
            "max_advance_days": venue.rules.max_advance_days,
            "weekly_quota_minutes": venue.rules.weekly_quota_minutes,
            "reminder_minutes": list(venue.rules.reminder_minutes),
            "max_session_minutes": venue.rules.max_session_minutes,
        },
        "blackouts": [{"start": z(b.start), "end": z(b.end), "reason": b.reason} for b in venue.blackouts],
    }


def booth_json(booth: Booth) -> dict[str, Any]:
    return {
        "id": booth.id,
        "name": booth.name,
        "venue_id": booth.venue.id,
        "venue": booth.venue.name,
        "city": booth.venue.city,
        "timezone": booth.venue.timezone,
    }


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "company": account.company,
        "role": account.role.value,
        "venue_id": account.venue_id,
    }


def booking_links(view: BookingView) -> dict[str, str]:
    """The booking's API resource, its .ics download and "add to calendar" templates (UTC)."""
    return {
        "self": f"/api/v1/bookings/{view.id}",
        "ics": f"/api/v1/bookings/{view.id}.ics",
        "google_calendar": ical.google_calendar_url(view),
        "outlook_calendar": ical.outlook_calendar_url(view),
    }


def booking_json(view: BookingView) -> dict[str, Any]:
    return {
        "id": view.id,
        "uid": view.uid,
        "title": view.title,
        "status": view.status.value,
        "start": z(view.start),
        "end": z(view.end),
        "duration_minutes": int((view.end - view.start).total_seconds() // 60),
        "sequence": view.sequence,
        "organizer": {
            "id": view.organizer_id,
            "name": view.organizer_name,
            "company": view.organizer_company,
        },
        "guests": list(view.guests),
        "booths": [booth_json(b) | {"local": local(b, view.start, view.end)} for b in view.booths],
        "override_reason": view.override_reason,
        "created_at": z(view.created_at),
        "updated_at": z(view.updated_at),
        "links": booking_links(view),
    }

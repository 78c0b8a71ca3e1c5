"""Calendars over HTTP: a booking's .ics forms, feed tokens, feeds, conditional GET, free/busy.

Every iCalendar answer is read by the parsers of real clients (tests/calendar_parsers: ical.js,
libical, vobject), which must compute the UTC instants of the booking JSON; under CI=true a
missing parser fails instead of skipping.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update
from sqlalchemy import text as sql_text

from booth_server import api_calendars, logs
from booth_server.app import create_app
from booth_server.config import Config
from booth_server.keys import DATABASE
from scheduler import feeds as feeds_module
from scheduler import ical
from scheduler.tables import AccountRow, Base, BookingRow, FeedVersionRow
from tests.calendar_parsers import PARSERS
from tests.conftest import (
    ADMIN,
    CANTINE_A,
    CANTINE_B,
    DEMO_PASSWORD,
    SF_A,
    SF_B,
    STAFF_PARIS,
    STAFF_SF,
    token_for,
)

START = "2027-03-16T16:00:00Z"


async def book(
    client: TestClient[Any, Any],
    headers: dict[str, str],
    start: str = START,
    *,
    booths: tuple[int, ...] = (CANTINE_A, SF_A),
    minutes: int = 60,
    title: str = "Pitch",
    guests: tuple[str, ...] = (),
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/bookings",
        headers=headers,
        json={
            "booths": list(booths),
            "start": start,
            "duration_minutes": minutes,
            "title": title,
            "guests": list(guests),
        },
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def new_account(
    client: TestClient[Any, Any],
    name: str = "Grace Hopper",
    company: str = "COBOL SARL",
    email: str | None = None,
) -> tuple[dict[str, str], str]:
    email = email or f"{uuid.uuid4().hex[:10]}@example.org"
    response = await client.post(
        "/api/v1/accounts", json={"email": email, "password": DEMO_PASSWORD, "name": name, "company": company}
    )
    assert response.status == 201, await response.text()
    return await token_for(client, email), email


async def create_feed(client: TestClient[Any, Any], headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/feeds", headers=headers, json=body or {"kind": "organizer"})
    assert response.status == 201, await response.text()
    return await response.json()


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def unfold(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n ", "")


def event_blocks(text: str) -> list[str]:
    return [block.split("END:VEVENT")[0] for block in text.split("BEGIN:VEVENT")[1:]]


def parse_everywhere(data: bytes) -> dict[str, dict[str, Any]]:
    """Each client parser's reading; libical must report no error."""
    results = {name: parse(data) for name, parse in PARSERS.items()}
    for name, result in results.items():
        assert result["errors"] == [], (name, result["errors"])
    return results


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return (await response.json())["error"]


# --------------------------------------------------------------------------- one booking


async def test_booking_json_links_to_its_ics_and_calendar_templates(client) -> None:
    body = await book(client, await token_for(client))
    links = body["links"]
    assert links["ics"] == f"/api/v1/bookings/{body['id']}.ics"
    assert links["google_calendar"].startswith("https://calendar.google.com/calendar/render?action=TEMPLATE")
    assert "dates=20270316T160000Z/20270316T170000Z" in links["google_calendar"]
    assert links["outlook_calendar"].startswith("https://outlook.live.com/calendar/0/deeplink/compose?")
    assert "startdt=2027-03-16T16:00:00Z" in links["outlook_calendar"]


async def test_each_ics_form_is_read_alike_by_every_client_parser(client) -> None:
    headers = await token_for(client)
    booking = await book(
        client, headers, title="Pitch, café; 東京", guests=("bob@example.com", "eve@example.net")
    )
    expected = (booking["start"], booking["end"])
    forms: dict[str, bytes] = {}
    for method in ("publish", "request"):
        response = await client.get(f"{booking['links']['ics']}?method={method}", headers=headers)
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == f"text/calendar; charset=utf-8; method={method.upper()}"
        assert "attachment" in response.headers["Content-Disposition"]
        forms[method] = await response.read()
    assert (await client.get(booking["links"]["ics"], headers=headers)).status == 200  # PUBLISH by default
    cancelled = await client.delete(f"/api/v1/bookings/{booking['id']}", headers=headers)
    assert (await cancelled.json())["sequence"] == 1
    for method in ("cancel", "publish"):
        response = await client.get(f"{booking['links']['ics']}?method={method}", headers=headers)
        assert response.status == 200, await response.text()
        forms[f"{method} (cancelled)"] = await response.read()

    for form, data in forms.items():
        text = unfold(data)
        method = form.split()[0].upper()
        assert f"METHOD:{method}\r\n" in text
        assert 'ORGANIZER;CN="Ada Lovelace":mailto:ada@demo.sebastian.example' in text, form
        attendees = [line for line in text.split("\r\n") if line.startswith("ATTENDEE")]
        if method == "PUBLISH":
            assert attendees == [], form
        else:
            assert any("mailto:bob@example.com" in a for a in attendees), form
            assert any("mailto:eve@example.net" in a for a in attendees), form
        for name, parsed in parse_everywhere(data).items():
            (event,) = parsed["events"]
            assert (event["start_utc"], event["end_utc"]) == expected, (form, name)
            assert event["uid"] == booking["uid"], (form, name)
            assert parsed["calendar"]["method"] == method, (form, name)
            assert event["status"] == ("CONFIRMED" if "cancelled" not in form else "CANCELLED"), (form, name)
            assert event["sequence"] == (0 if "cancelled" not in form else 1), (form, name)


async def test_ics_download_errors_are_json(client) -> None:
    ada = await token_for(client)
    booking = await book(client, ada)
    ics = booking["links"]["ics"]
    assert (await error_of(await client.get(ics), 401))["code"] == "unauthorized"
    assert (await error_of(await client.get(f"{ics}?method=bogus", headers=ada), 422))["field"] == "method"
    assert (await error_of(await client.get(f"{ics}?method=cancel", headers=ada), 409))[
        "code"
    ] == "booking_not_cancelled"
    assert (await error_of(await client.get("/api/v1/bookings/99999.ics", headers=ada), 404))[
        "code"
    ] == "not_found"
    other, _ = await new_account(client)
    assert (await error_of(await client.get(ics, headers=other), 404))["code"] == "not_found"
    # Staff of a booked venue see it; the JSON route next to it still answers.
    assert (await client.get(ics, headers=await token_for(client, STAFF_SF))).status == 200
    assert (await client.get(f"/api/v1/bookings/{booking['id']}", headers=ada)).status == 200
    await client.delete(f"/api/v1/bookings/{booking['id']}", headers=ada)
    assert (await error_of(await client.get(f"{ics}?method=request", headers=ada), 409))[
        "code"
    ] == "booking_cancelled"


# --------------------------------------------------------------------------- feed tokens


async def test_feed_token_lifecycle_create_fetch_rotate_revoke(make_client, database_url) -> None:
    client = await make_client(database_url)
    ada = await token_for(client)
    booking = await book(client, ada)
    feed = await create_feed(client, ada)
    assert feed["kind"] == "organizer" and feed["venue_id"] is None
    assert feed["https_url"].endswith(f"/feeds/organizer/{feed['token']}.ics")
    old_path = path_of(feed["https_url"])

    response = await client.get(old_path)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=900"
    text = unfold(await response.read())
    assert f"UID:{booking['uid']}" in text and "SUMMARY:Pitch" in text
    assert "X-WR-CALNAME:Ada Lovelace: booth sessions" in text

    listed = (await (await client.get("/api/v1/feeds", headers=ada)).json())["feeds"]
    assert listed == [
        {"id": feed["id"], "kind": "organizer", "venue_id": None, "created_at": feed["created_at"]}
    ]

    rotated = await client.post(f"/api/v1/feeds/{feed['id']}/rotate", headers=ada)
    assert rotated.status == 200, await rotated.text()
    rotated_feed = await rotated.json()
    assert rotated_feed["id"] == feed["id"] and rotated_feed["token"] != feed["token"]
    assert (await error_of(await client.get(old_path), 404))["code"] == "not_found"
    new_path = path_of(rotated_feed["https_url"])
    assert (await client.get(new_path)).status == 200

    assert (await client.delete(f"/api/v1/feeds/{feed['id']}", headers=ada)).status == 204
    assert (await error_of(await client.get(new_path), 404))["code"] == "not_found"
    assert (await error_of(await client.delete(f"/api/v1/feeds/{feed['id']}", headers=ada), 404))[
        "code"
    ] == "not_found"
    assert await error_of(await client.post(f"/api/v1/feeds/{feed['id']}/rotate", headers=ada), 404)
    assert (await (await client.get("/api/v1/feeds", headers=ada)).json())["feeds"] == []


async def test_feed_token_is_strong_and_stored_only_as_a_hash(make_client, database_url) -> None:
    client = await make_client(database_url)
    ada = await token_for(client)
    feed = await create_feed(client, ada)
    token = feed["token"]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) * 8 >= 128
    rotated = await (await client.post(f"/api/v1/feeds/{feed['id']}/rotate", headers=ada)).json()
    # No column of any row of any table holds either secret; the feed row holds the new one's hash.
    async with client.app[DATABASE].read() as session:
        dump: list[str] = []
        for table in Base.metadata.sorted_tables:
            dump.extend(repr(tuple(row)) for row in (await session.execute(select(table))).all())
        feed_rows = (await session.execute(select(Base.metadata.tables["feed_tokens"]))).mappings().all()
    everything = "\n".join(dump)
    for secret in (token, rotated["token"]):
        assert secret not in everything
    assert [r["token_hash"] for r in feed_rows] == [hashlib.sha256(rotated["token"].encode()).hexdigest()]


async def test_an_entrepreneur_cannot_touch_another_ones_feed(client) -> None:
    ada = await token_for(client)
    await book(client, ada)
    feed = await create_feed(client, ada)
    grace, _ = await new_account(client)
    assert await error_of(await client.post(f"/api/v1/feeds/{feed['id']}/rotate", headers=grace), 404)
    assert await error_of(await client.delete(f"/api/v1/feeds/{feed['id']}", headers=grace), 404)
    assert (await (await client.get("/api/v1/feeds", headers=grace)).json())["feeds"] == []
    # Grace's own feed shows Grace's bookings only, and a guessed or mistyped token finds nothing.
    grace_feed = await create_feed(client, grace)
    text = unfold(await (await client.get(path_of(grace_feed["https_url"]))).read())
    assert "BEGIN:VEVENT" not in text
    for guess in (feed["token"][:-1] + ("A" if feed["token"][-1] != "A" else "B"), "short", "x" * 43):
        assert (await error_of(await client.get(f"/feeds/organizer/{guess}.ics"), 404))["field"] == "token"
    # A token works only for its own kind of feed.
    assert (await client.get(f"/feeds/venue/{feed['token']}.ics")).status == 404
    assert (await client.get(path_of(feed["https_url"]))).status == 200


async def test_venue_feeds_are_for_that_venues_staff_and_admins(client) -> None:
    ada = await token_for(client)
    first = await book(client, ada, booths=(CANTINE_A, SF_A), title="Paris and SF, A")
    second = await book(client, ada, booths=(CANTINE_B, SF_B), title="Paris and SF, B")
    staff_paris = await token_for(client, STAFF_PARIS)
    feed = await create_feed(client, staff_paris, kind="venue", venue_id=1)
    assert feed["kind"] == "venue" and feed["venue_id"] == 1
    assert "/feeds/venue/" in feed["https_url"]
    response = await client.get(path_of(feed["https_url"]))
    assert response.status == 200 and response.headers["Cache-Control"] == "private, max-age=900"
    text = unfold(await response.read())
    for booking in (first, second):
        assert f"UID:{booking['uid']}" in text
    assert "Paris and SF\\, A" in text and "Ada Lovelace" in text

    forbidden = await client.post("/api/v1/feeds", headers=staff_paris, json={"kind": "venue", "venue_id": 2})
    assert (await error_of(forbidden, 403))["field"] == "venue_id"
    forbidden = await client.post("/api/v1/feeds", headers=ada, json={"kind": "venue", "venue_id": 1})
    assert (await error_of(forbidden, 403))["code"] == "forbidden"
    admin = await token_for(client, ADMIN)
    assert (await create_feed(client, admin, kind="venue", venue_id=2))["venue_id"] == 2
    unknown = await client.post("/api/v1/feeds", headers=admin, json={"kind": "venue", "venue_id": 99})
    assert (await error_of(unknown, 422))["code"] == "unknown_venue"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "kind"),
        ({"kind": "booth"}, 422, "kind"),
        ({"kind": "everything"}, 422, "kind"),
        ({"kind": 3}, 422, "kind"),
        ({"kind": "venue"}, 422, "venue_id"),
        ({"kind": "venue", "venue_id": "one"}, 422, "venue_id"),
        ({"kind": "organizer", "venue_id": 1}, 422, "venue_id"),
    ],
)
async def test_bad_feed_requests_are_named(client, body, status, field) -> None:
    response = await client.post("/api/v1/feeds", headers=await token_for(client, ADMIN), json=body)
    assert (await error_of(response, status))["field"] == field


async def test_feed_api_needs_an_account_and_bounds_ids(client) -> None:
    assert (await error_of(await client.get("/api/v1/feeds"), 401))["code"] == "unauthorized"
    assert await error_of(await client.post("/api/v1/feeds", json={"kind": "organizer"}), 401)
    ada = await token_for(client)
    assert (await error_of(await client.delete("/api/v1/feeds/abc", headers=ada), 422))["field"] == "id"
    assert (await error_of(await client.post("/api/v1/feeds/0/rotate", headers=ada), 422))["field"] == "id"
    for _ in range(feeds_module.MAX_FEEDS_PER_ACCOUNT):
        await create_feed(client, ada)
    too_many = await client.post("/api/v1/feeds", headers=ada, json={"kind": "organizer"})
    assert (await error_of(too_many, 422))["code"] == "too_many_feeds"


async def test_feed_answers_fit_the_documented_schemas(client) -> None:
    from tests.server.test_openapi import _validator

    ada = await token_for(client)
    created = await create_feed(client, ada)
    _validator("FeedWithSecret").validate(created)
    rotated = await (await client.post(f"/api/v1/feeds/{created['id']}/rotate", headers=ada)).json()
    _validator("FeedWithSecret").validate(rotated)
    venue = await create_feed(client, await token_for(client, STAFF_PARIS), kind="venue", venue_id=1)
    _validator("FeedWithSecret").validate(venue)
    for feed in (await (await client.get("/api/v1/feeds", headers=ada)).json())["feeds"]:
        _validator("Feed").validate(feed)
    _validator("Booking").validate(await book(client, ada))
    _validator("Error").validate(
        await (await client.get("/feeds/organizer/nothing-here-at-all-1234.ics")).json()
    )


# --------------------------------------------------------------------------- feed contents


async def test_busy_only_booth_feed_shows_nothing_about_who_or_what(client) -> None:
    """Several organizers with distinctive names, companies, e-mails, titles and guests: none of
    those strings (nor their e-mail halves) appears anywhere in the public booth feeds."""
    secrets_shown: list[str] = []
    slots = [
        ("2027-03-16T15:00:00Z", (CANTINE_A, SF_A)),
        ("2027-03-16T16:30:00Z", (CANTINE_B, SF_B)),
        ("2027-03-17T15:00:00Z", (CANTINE_B, SF_A)),
        ("2027-03-17T16:30:00Z", (CANTINE_A, SF_B)),
        ("2027-03-18T15:15:00Z", (CANTINE_A, SF_A)),
    ]
    bookings = []
    for i, (start, booths) in enumerate(slots):
        tag = f"zq{uuid.uuid4().hex[:8]}"
        local, domain = f"{tag}mail{i}", f"{tag}dom{i}.example"
        headers, _ = await new_account(
            client, name=f"Name{tag} Person", company=f"Company{tag} SAS", email=f"{local}@{domain}"
        )
        guest = f"guest{tag}@guest{tag}.example"
        bookings.append(
            await book(
                client, headers, start, booths=booths, title=f"Title{tag}, secret; plan", guests=(guest,)
            )
        )
        secrets_shown += [f"Name{tag}", f"Company{tag}", local, domain, f"Title{tag}", f"guest{tag}", tag]
    # A cancelled booking stays in the feed (for 30 days) and must not leak either.
    await client.delete(f"/api/v1/bookings/{bookings[-1]['id']}", headers=headers)
    for booth in (CANTINE_A, CANTINE_B, SF_A, SF_B):
        response = await client.get(f"/feeds/booths/{booth}.ics")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=900"
        data = await response.read()
        text = unfold(data)
        lowered = text.lower()
        leaked = [s for s in secrets_shown if s.lower() in lowered]
        assert leaked == [], (booth, leaked)
        for forbidden_property in ("DESCRIPTION", "LOCATION", "ORGANIZER", "ATTENDEE", "URL", "CONTACT"):
            assert f"\r\n{forbidden_property}" not in text
        holding = [b for b in bookings if booth in [x["id"] for x in b["booths"]]]
        blocks = event_blocks(text)
        assert len(blocks) == len(holding)
        assert all("SUMMARY:Booked" in b or "SUMMARY:Cancelled: Booked" in b for b in blocks)
        for name, parsed in parse_everywhere(data).items():
            assert sorted((e["start_utc"], e["end_utc"]) for e in parsed["events"]) == sorted(
                (b["start"], b["end"]) for b in holding
            ), (booth, name)


async def test_an_empty_feed_is_a_valid_calendar(client) -> None:
    grace, _ = await new_account(client)
    feed = await create_feed(client, grace)
    response = await client.get(path_of(feed["https_url"]))
    assert response.status == 200
    data = await response.read()
    for parsed in parse_everywhere(data).values():
        assert parsed["events"] == []
    assert "Last-Modified" not in response.headers and response.headers["ETag"].startswith('"')
    # A booth nobody booked, too.
    for parsed in parse_everywhere(await (await client.get(f"/feeds/booths/{SF_B}.ics")).read()).values():
        assert parsed["events"] == []


async def test_booth_feed_input_errors(client) -> None:
    assert (await error_of(await client.get("/feeds/booths/99.ics"), 404))["field"] == "booth_id"
    assert (await error_of(await client.get("/feeds/booths/abc.ics"), 422))["field"] == "booth_id"
    assert (await error_of(await client.get("/feeds/booths/0.ics"), 422))["field"] == "booth_id"


async def test_feed_urls_in_webcal_and_https_forms(make_client, sqlite_url) -> None:
    client = await make_client(sqlite_url)
    feed = await create_feed(client, await token_for(client))
    host = f"{client.server.host}:{client.server.port}"
    assert feed["https_url"] == f"http://{host}/feeds/organizer/{feed['token']}.ics"
    assert feed["webcal_url"] == f"webcal://{host}/feeds/organizer/{feed['token']}.ics"
    proxied = await make_client(sqlite_url, public_origin="https://booths.example.org/")
    feed = await create_feed(proxied, await token_for(proxied))
    assert feed["https_url"] == f"https://booths.example.org/feeds/organizer/{feed['token']}.ics"
    assert feed["webcal_url"] == f"webcal://booths.example.org/feeds/organizer/{feed['token']}.ics"


# --------------------------------------------------------------------------- conditional GET


async def test_etag_304_and_changes_after_reschedule_and_cancel(make_client, database_url, clock) -> None:
    client = await make_client(database_url)
    ada = await token_for(client)
    booking = await book(client, ada)
    await book(
        client,
        ada,
        "2027-03-17T16:00:00Z",
        booths=(CANTINE_B, SF_B),
        title="Other",
        guests=("bob@example.com",),
    )
    path = path_of((await create_feed(client, ada))["https_url"])
    first = await client.get(path)
    etag = first.headers["ETag"]
    assert "Guests: bob@example.com" in unfold(await first.read())
    assert etag.startswith('"') and not etag.startswith("W/")

    for header in (etag, f'"nope", {etag}', f"W/{etag}", f'"a",W/{etag} , "b"', "*"):
        again = await client.get(path, headers={"If-None-Match": header})
        assert again.status == 304, header
        assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == "private, max-age=900"
        assert await again.read() == b""
    for header in ('"nope"', "garbage", etag[:-1], f"{etag}, garbage"):
        assert (await client.get(path, headers={"If-None-Match": header})).status == 200, header
    assert (await client.head(path, headers={"If-None-Match": etag})).status == 304

    clock.advance(timedelta(minutes=5))
    moved = await client.patch(
        f"/api/v1/bookings/{booking['id']}", headers=ada, json={"start": "2027-03-16T15:00:00Z"}
    )
    assert moved.status == 200, await moved.text()
    after_move = await client.get(path, headers={"If-None-Match": etag})
    assert after_move.status == 200
    assert after_move.headers["ETag"] != etag
    block = next(b for b in event_blocks(unfold(await after_move.read())) if booking["uid"] in b)
    assert "SEQUENCE:1" in block and "DTSTART:20270316T150000Z" in block
    etag = after_move.headers["ETag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304

    clock.advance(timedelta(minutes=5))
    assert (await client.delete(f"/api/v1/bookings/{booking['id']}", headers=ada)).status == 200
    after_cancel = await client.get(path, headers={"If-None-Match": etag})
    assert after_cancel.status == 200 and after_cancel.headers["ETag"] != etag
    data = await after_cancel.read()
    block = next(b for b in event_blocks(unfold(data)) if booking["uid"] in b)
    assert "SEQUENCE:2" in block and "STATUS:CANCELLED" in block
    for name, parsed in parse_everywhere(data).items():
        event = next(e for e in parsed["events"] if e["uid"] == booking["uid"])
        assert (event["status"], event["sequence"]) == ("CANCELLED", 2), name


async def test_if_modified_since(client, clock) -> None:
    ada = await token_for(client)
    await book(client, ada)
    path = path_of((await create_feed(client, ada))["https_url"])
    clock.advance(timedelta(seconds=2))  # Last-Modified is sent once the second of the change is over
    response = await client.get(path)
    last_modified = response.headers["Last-Modified"]
    assert last_modified.endswith(" GMT")
    stamp = parsedate_to_datetime(last_modified)
    etag = response.headers["ETag"]

    async def status(**headers: str) -> int:
        return (await client.get(path, headers=headers)).status

    assert await status(**{"If-Modified-Since": last_modified}) == 304
    assert (
        await status(**{"If-Modified-Since": format_datetime(stamp - timedelta(seconds=1), usegmt=True)})
        == 200
    )
    clock.advance(timedelta(hours=1))
    later = format_datetime(stamp + timedelta(minutes=30), usegmt=True)
    assert await status(**{"If-Modified-Since": later}) == 304
    # The two obsolete HTTP-date forms a recipient must still read (RFC 9110 §5.6.7).
    assert await status(**{"If-Modified-Since": stamp.strftime("%A, %d-%b-%y %H:%M:%S GMT")}) == 304
    assert await status(**{"If-Modified-Since": stamp.strftime("%a %b %e %H:%M:%S %Y")}) == 304
    # Unreadable, impossible or future dates are ignored: the full feed.
    for bad in (
        "yesterday",
        "Tue, 31 Feb 2027 10:00:00 GMT",
        "Tue, 16 Mar 2027 10:00:00 +0100",
        "",
        format_datetime(clock.now() + timedelta(days=1), usegmt=True),
    ):
        assert await status(**{"If-Modified-Since": bad}) == 200, bad
    # If-None-Match wins over If-Modified-Since, both ways.
    assert await status(**{"If-None-Match": '"other"', "If-Modified-Since": later}) == 200
    assert (
        await status(**{"If-None-Match": etag, "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}) == 304
    )

    # A change makes the old date too old.
    clock.advance(timedelta(minutes=1))
    await book(client, ada, "2027-03-17T16:00:00Z")
    clock.advance(timedelta(seconds=2))
    assert await status(**{"If-Modified-Since": later}) == 200
    newer = (await client.get(path)).headers["Last-Modified"]
    assert parsedate_to_datetime(newer) > stamp


async def test_a_cancelled_booking_leaves_the_feed_after_30_days(client, clock) -> None:
    ada = await token_for(client)
    kept = await book(client, ada, "2027-04-06T15:00:00Z")
    cancelled = await book(client, ada)
    await client.delete(f"/api/v1/bookings/{cancelled['id']}", headers=ada)
    path = path_of((await create_feed(client, ada))["https_url"])
    clock.advance(timedelta(days=29))
    response = await client.get(path)
    text = unfold(await response.read())
    assert cancelled["uid"] in text and kept["uid"] in text
    etag, last_modified = response.headers["ETag"], response.headers["Last-Modified"]
    clock.advance(timedelta(days=2))  # 31 days after the cancellation
    assert (await client.get(path, headers={"If-Modified-Since": last_modified})).status == 200
    response = await client.get(path, headers={"If-None-Match": etag})
    assert response.status == 200 and response.headers["ETag"] != etag
    text = unfold(await response.read())
    assert cancelled["uid"] not in text and kept["uid"] in text
    assert parsedate_to_datetime(response.headers["Last-Modified"]) > parsedate_to_datetime(last_modified)
    assert (await client.get(path, headers={"If-None-Match": response.headers["ETag"]})).status == 304


async def test_a_booking_moved_to_another_booth_leaves_that_booths_feed(client, clock) -> None:
    ada = await token_for(client)
    booking = await book(client, ada)
    clock.advance(timedelta(seconds=2))
    first = await client.get(f"/feeds/booths/{CANTINE_A}.ics")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    clock.advance(timedelta(minutes=1))
    moved = await client.patch(
        f"/api/v1/bookings/{booking['id']}", headers=ada, json={"booths": [CANTINE_B, SF_A]}
    )
    assert moved.status == 200, await moved.text()
    clock.advance(timedelta(seconds=2))
    assert (await client.get(f"/feeds/booths/{CANTINE_A}.ics", headers={"If-None-Match": etag})).status == 200
    response = await client.get(
        f"/feeds/booths/{CANTINE_A}.ics", headers={"If-Modified-Since": last_modified}
    )
    assert response.status == 200
    assert "BEGIN:VEVENT" not in unfold(await response.read())


async def test_a_304_loads_and_renders_no_booking(client, clock, monkeypatch) -> None:
    ada = await token_for(client)
    await book(client, ada)
    path = path_of((await create_feed(client, ada))["https_url"])
    clock.advance(timedelta(seconds=2))
    first = await client.get(path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]

    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the 304 path must not load or render bookings")

    monkeypatch.setattr(feeds_module.FeedRepository, "views", fail)
    monkeypatch.setattr(feeds_module.FeedRepository, "load", fail)
    monkeypatch.setattr(ical, "feed_ics", fail)
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304
    assert (await client.get(path, headers={"If-Modified-Since": last_modified})).status == 304


async def _versions(client: TestClient[Any, Any]) -> dict[tuple[str, int], int]:
    async with client.app[DATABASE].read() as session:
        rows = (
            await session.execute(
                select(FeedVersionRow.kind, FeedVersionRow.subject_id, FeedVersionRow.version)
            )
        ).all()
    return {(kind, subject_id): version for kind, subject_id, version in rows}


async def _ada_id(client: TestClient[Any, Any]) -> int:
    async with client.app[DATABASE].read() as session:
        found = await session.scalar(
            select(AccountRow.id).where(AccountRow.email == "ada@demo.sebastian.example")
        )
    assert found is not None
    return found


class _RollBack(Exception):
    pass


async def test_a_write_raises_feed_versions_in_its_own_transaction(make_client, database_url) -> None:
    """The triggers bump the organizer's, the booths' and the venues' versions in the transaction
    of the write: visible inside it, committed with it, gone with a rollback."""
    client = await make_client(database_url)
    database = client.app[DATABASE]
    ada = await token_for(client)
    ada_id = await _ada_id(client)
    booking = await book(client, ada)
    subjects = [("organizer", ada_id), ("booth", CANTINE_A), ("booth", SF_A), ("venue", 1), ("venue", 2)]
    untouched = [("booth", CANTINE_B), ("booth", SF_B)]
    before = await _versions(client)
    assert all(before.get(s, 0) >= 1 for s in subjects), before
    assert all(s not in before for s in untouched), before

    async def retitle(title: str, *, roll_back: bool) -> dict[tuple[str, int], int]:
        seen: dict[tuple[str, int], int] = {}
        try:
            async with database.write() as session:
                await session.execute(
                    update(BookingRow).where(BookingRow.id == booking["id"]).values(title=title)
                )
                if not database.is_sqlite:
                    await session.execute(
                        sql_text("SET CONSTRAINTS ALL IMMEDIATE")
                    )  # run the deferred triggers now
                rows = await session.execute(
                    select(FeedVersionRow.kind, FeedVersionRow.subject_id, FeedVersionRow.version)
                )
                seen = {(kind, subject_id): version for kind, subject_id, version in rows}
                if roll_back:
                    raise _RollBack
        except _RollBack:
            pass
        return seen

    inside = await retitle("Rolled back", roll_back=True)
    assert all(inside[s] > before[s] for s in subjects), (before, inside)
    assert await _versions(client) == before
    assert (await (await client.get(f"/api/v1/bookings/{booking['id']}", headers=ada)).json())[
        "title"
    ] == "Pitch"

    await retitle("Kept", roll_back=False)
    after = await _versions(client)
    assert all(after[s] > before[s] for s in subjects), (before, after)
    assert all(s not in after for s in untouched), after

    # An organizer's name is printed in venue feeds: renaming the account bumps them too.
    async with database.write() as session:
        await session.execute(update(AccountRow).where(AccountRow.id == ada_id).values(name="Ada King"))
    renamed = await _versions(client)
    assert (
        renamed[("venue", 1)] > after[("venue", 1)]
        and renamed[("organizer", ada_id)] > after[("organizer", ada_id)]
    )
    assert renamed[("booth", CANTINE_A)] == after[("booth", CANTINE_A)]  # busy-only: no names


async def test_a_title_change_changes_the_venue_feed(make_client, database_url, clock) -> None:
    client = await make_client(database_url)
    ada = await token_for(client)
    booking = await book(client, ada, title="Old title")
    feed = await create_feed(client, await token_for(client, STAFF_PARIS), kind="venue", venue_id=1)
    path = path_of(feed["https_url"])
    clock.advance(timedelta(seconds=2))
    first = await client.get(path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert "SUMMARY:Old title" in unfold(await first.read())
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304

    clock.advance(timedelta(minutes=1))
    edited = await client.patch(f"/api/v1/bookings/{booking['id']}", headers=ada, json={"title": "New title"})
    assert edited.status == 200, await edited.text()
    clock.advance(timedelta(seconds=2))
    assert (await client.get(path, headers={"If-Modified-Since": last_modified})).status == 200
    response = await client.get(path, headers={"If-None-Match": etag})
    assert response.status == 200 and response.headers["ETag"] != etag
    assert "SUMMARY:New title" in unfold(await response.read())
    assert (await client.get(path, headers={"If-None-Match": response.headers["ETag"]})).status == 304


async def test_reschedule_and_cancel_change_the_booth_feed(make_client, database_url, clock) -> None:
    client = await make_client(database_url)
    ada = await token_for(client)
    booking = await book(client, ada)
    path = f"/feeds/booths/{SF_A}.ics"
    clock.advance(timedelta(seconds=2))
    first = await client.get(path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304

    clock.advance(timedelta(minutes=1))
    moved = await client.patch(
        f"/api/v1/bookings/{booking['id']}", headers=ada, json={"start": "2027-03-16T15:00:00Z"}
    )
    assert moved.status == 200, await moved.text()
    clock.advance(timedelta(seconds=2))
    assert (await client.get(path, headers={"If-Modified-Since": last_modified})).status == 200
    response = await client.get(path, headers={"If-None-Match": etag})
    assert response.status == 200 and response.headers["ETag"] != etag
    assert "DTSTART:20270316T150000Z" in unfold(await response.read())
    etag, last_modified = response.headers["ETag"], response.headers["Last-Modified"]

    clock.advance(timedelta(minutes=1))
    assert (await client.delete(f"/api/v1/bookings/{booking['id']}", headers=ada)).status == 200
    clock.advance(timedelta(seconds=2))
    assert (await client.get(path, headers={"If-Modified-Since": last_modified})).status == 200
    response = await client.get(path, headers={"If-None-Match": etag})
    assert response.status == 200 and response.headers["ETag"] != etag
    assert "SUMMARY:Cancelled: Booked" in unfold(await response.read())


async def test_the_utc_day_boundary_changes_the_etag(make_client, database_url, clock) -> None:
    """A feed is computed for the current UTC day: within the day nothing changes by itself; at
    midnight UTC the ETag changes and Last-Modified becomes that midnight."""
    client = await make_client(database_url)
    ada = await token_for(client)
    await book(client, ada)
    path = path_of((await create_feed(client, ada))["https_url"])
    clock.advance(timedelta(seconds=2))  # 1 March 2027, 12:00:02 UTC
    first = await client.get(path)
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    clock.advance(timedelta(hours=11, minutes=59))  # 23:59:02, the same day
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304
    assert (await client.get(path, headers={"If-Modified-Since": last_modified})).status == 304
    clock.advance(timedelta(minutes=1))  # 2 March, 00:00:02
    assert (await client.get(path, headers={"If-Modified-Since": last_modified})).status == 200
    response = await client.get(path, headers={"If-None-Match": etag})
    assert response.status == 200 and response.headers["ETag"] != etag
    assert response.headers["Last-Modified"] == "Tue, 02 Mar 2027 00:00:00 GMT"
    assert (await client.get(path, headers={"If-None-Match": response.headers["ETag"]})).status == 304


def test_http_date_parsing_and_entity_tags() -> None:
    now = parsedate_to_datetime("Mon, 01 Mar 2027 12:00:00 GMT")
    expected = parsedate_to_datetime("Sun, 06 Nov 1994 08:49:37 GMT")
    for text in (
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ):
        assert api_calendars.parse_http_date(text, now) == expected, text
    # RFC 850 years: at most 50 years ahead, else the century before.
    assert api_calendars.parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT", now) == parsedate_to_datetime(
        "Thu, 01 Jan 2070 00:00:00 GMT"
    )
    assert api_calendars.parse_http_date("Friday, 01-Jan-99 00:00:00 GMT", now) == parsedate_to_datetime(
        "Fri, 01 Jan 1999 00:00:00 GMT"
    )
    for bad in ("", "Sun, 06 Nov 1994 08:49:37 +0000", "Sun, 06 Nov 1994 25:49:37 GMT", "06 Nov 1994"):
        assert api_calendars.parse_http_date(bad, now) is None, bad
    assert api_calendars._entity_tags('"a", W/"b",  "c"') == ["a", "b", "c"]
    assert api_calendars._entity_tags('"a" "b"') is None
    assert api_calendars._entity_tags("a") is None


def test_feed_retention_matches_the_renderer() -> None:
    assert feeds_module.CANCELLED_RETENTION == ical.CANCELLED_RETENTION


# --------------------------------------------------------------------------- free/busy


async def test_freebusy_of_a_booth(client) -> None:
    ada = await token_for(client)
    first = await book(client, ada)
    second = await book(client, ada, "2027-03-17T16:00:00Z", booths=(CANTINE_A, SF_B))
    cancelled = await book(client, ada, "2027-03-18T16:00:00Z")
    await client.delete(f"/api/v1/bookings/{cancelled['id']}", headers=ada)
    response = await client.get(f"/feeds/booths/{CANTINE_A}/freebusy.ics?from=2027-03-16&to=2027-03-18")
    assert response.status == 200 and response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    data = await response.read()
    for name, parsed in parse_everywhere(data).items():
        (freebusy,) = parsed["freebusy"]
        # Local midnights of Paris (CET, UTC+1) bound the range.
        assert (freebusy["start_utc"], freebusy["end_utc"]) == (
            "2027-03-15T23:00:00Z",
            "2027-03-18T23:00:00Z",
        )
        assert freebusy["periods"] == [[first["start"], first["end"]], [second["start"], second["end"]]], name


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("", "from", "required"),
        ("from=2027-03-16", "to", "required"),
        ("from=16/03/2027&to=2027-03-17", "from", "invalid"),
        ("from=2027-03-16&to=2027-02-30", "to", "invalid"),
        ("from=2027-03-16&to=2027-03-15", "to", "invalid"),
        ("from=2027-03-01&to=2027-06-01", "to", "invalid"),
        ("from=9999-12-31&to=9999-12-31", "from", "invalid"),
    ],
)
async def test_freebusy_input_errors_are_named(client, query, field, code) -> None:
    error = await error_of(await client.get(f"/feeds/booths/{CANTINE_A}/freebusy.ics?{query}"), 422)
    assert (error["field"], error["code"]) == (field, code)


# --------------------------------------------------------------------------- access log


async def test_access_log_never_shows_a_feed_token(sqlite_url, clock) -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    access_log = logging.getLogger("test.sebastian.access")
    access_log.setLevel(logging.INFO)
    access_log.addHandler(Collect())
    app = create_app(Config(database=sqlite_url, demo=True), clock=clock)
    server = TestServer(app, host="127.0.0.1")
    # As booth_server.cli runs the app: aiohttp's access log, through the redacting logger.
    await server.start_server(access_log_class=logs.RedactingAccessLogger, access_log=access_log)
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    try:
        ada = await token_for(client)
        feed = await create_feed(client, ada)
        venue = await create_feed(client, await token_for(client, STAFF_PARIS), kind="venue", venue_id=1)
        assert (await client.get(path_of(feed["https_url"]) + "?x=1")).status == 200
        assert (await client.get(path_of(venue["https_url"]))).status == 200
        assert (await client.get(f"/feeds/booths/{CANTINE_A}.ics")).status == 200
        assert (
            await client.get(f"/feeds/booths/{CANTINE_A}/freebusy.ics?from=2027-03-16&to=2027-03-16")
        ).status == 200
        rotated = await (await client.post(f"/api/v1/feeds/{feed['id']}/rotate", headers=ada)).json()
        assert (await client.get(path_of(feed["https_url"]))).status == 404
    finally:
        await client.close()
    log_text = "\n".join(records)
    for secret in (feed["token"], venue["token"], rotated["token"]):
        assert secret not in log_text
    assert '"GET /feeds/organizer/[redacted].ics?x=1 HTTP/1.1" 200' in log_text
    assert '"GET /feeds/venue/[redacted].ics HTTP/1.1" 200' in log_text
    assert '"GET /feeds/organizer/[redacted].ics HTTP/1.1" 404' in log_text
    # The public booth feed's id is not a secret: shown or redacted (the pattern goes by path
    # shape), either is fine as long as the line is there.
    assert (
        '"GET /feeds/booths/1.ics HTTP/1.1" 200' in log_text
        or '"GET /feeds/booths/[redacted].ics HTTP/1.1" 200' in log_text
    )
    assert "/freebusy.ics?from=2027-03-16&to=2027-03-16" in log_text

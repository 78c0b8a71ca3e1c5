"""scheduler.ical without external parsers: RFC 5545 framing, escaping, feed rules, privacy of
the busy-only feed, free/busy and "add to calendar" links. icalendar's parser is the reader here
(test_ical_parsers.py uses the clients' parsers)."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler import ical
from scheduler.model import BookingStatus, Booth, TimeRange
from tests.calendar_parsers.bookings import (
    CANTINE_A,
    PARIS,
    SF_A,
    TRICKY_TITLE,
    dst_changes,
    make_view,
)

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def unfold(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")


def escape_text(text: str) -> str:
    """RFC 5545 §3.3.11 escaping, written independently of the module."""
    out = []
    for ch in text.replace("\r\n", "\n"):
        out.append({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n", "\r": "\\n"}.get(ch, ch))
    return "".join(out)


def read(data: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(data)


def events(data: bytes) -> list[Any]:
    return list(read(data).walk("VEVENT"))


def all_forms() -> dict[str, bytes]:
    confirmed = make_view(1, title=TRICKY_TITLE, sequence=1)
    cancelled = make_view(2, status=BookingStatus.CANCELLED, sequence=2, updated_at=NOW - timedelta(days=1))
    feed = [confirmed, cancelled]
    return {
        "PUBLISH": ical.booking_ics(confirmed, url="https://booths.example/b/1"),
        "REQUEST": ical.booking_ics(confirmed, method="REQUEST"),
        "CANCEL": ical.booking_ics(cancelled, method="CANCEL"),
        "organizer feed": ical.feed_ics(feed, name="Ada's sessions", kind="organizer", now_for_retention=NOW),
        "booth feed": ical.feed_ics(feed, name="Cantine A", kind="booth", now_for_retention=NOW),
        "venue feed": ical.feed_ics(feed, name="La Cantine", kind="venue", now_for_retention=NOW),
        "empty feed": ical.feed_ics([], name="Cantine A", kind="booth", now_for_retention=NOW),
        "freebusy": ical.freebusy_ics(
            "Cantine A",
            [TimeRange(confirmed.start, confirmed.end)],
            datetime(2027, 1, 1, tzinfo=UTC),
            datetime(2027, 2, 1, tzinfo=UTC),
            now=NOW,
        ),
    }


# --------------------------------------------------------------------------- RFC 5545 framing


@pytest.mark.parametrize("form", list(all_forms()))
def test_framing_crlf_folding_version_prodid(form: str) -> None:
    data = all_forms()[form]
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    for line in data.split(b"\r\n")[:-1]:
        assert len(line) <= 75, f"line of {len(line)} octets: {line!r}"
        line.decode("utf-8")  # a fold never splits a UTF-8 sequence
    text = unfold(data)
    assert "\r\nVERSION:2.0\r\n" in text
    assert f"\r\nPRODID:{ical.PRODID}\r\n" in text
    cal = read(data)
    assert cal.walk("VEVENT") or cal.walk("VFREEBUSY") or cal.walk("VTIMEZONE"), (
        "RFC 5545 §3.4: a VCALENDAR needs at least one component"
    )


def test_tricky_title_round_trips_through_escaping_and_folding() -> None:
    title = TRICKY_TITLE + " " + "Œuvre, 東京; \\N " * 12
    data = ical.booking_ics(make_view(title=title))
    (event,) = events(data)
    assert str(event["SUMMARY"]) == title
    raw = unfold(data)
    assert "SUMMARY:" + escape_text(title) + "\r\n" in raw
    assert "C:\\\\Notes" in raw  # a literal backslash-N stays a backslash and an N
    folded = [line for line in data.split(b"\r\n") if line.startswith(b" ")]
    assert folded, "the long SUMMARY must be folded"
    for line in data.split(b"\r\n"):
        run = len(line) - len(line.rstrip(b"\\"))
        assert run % 2 == 0, f"a fold separates a backslash from what it escapes: {line!r}"


def test_control_characters_are_dropped() -> None:
    (event,) = events(ical.booking_ics(make_view(title="a\x00b\x07c\x1bd\x7fe\tf")))
    assert str(event["SUMMARY"]) == "abcde\tf"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 70,
        "x" * 74,
        "x" * 75,
        "x" * 76,
        "x" * 200,
        "é" * 40,
        "東" * 30,
        "a" + "東" * 30,
        "ab" + "東" * 30,
        "x" * 73 + "\\,",
        "x" * 72 + "\\\\" + "y" * 10,
        "x" * 74 + "\\n" + "z" * 100,
    ],
)
def test_fold(text: str) -> None:
    line = "SUMMARY:" + text
    folded = ical._fold(line)
    parts = folded.split(b"\r\n")
    assert all(len(p) <= 75 for p in parts)
    assert all(p.startswith(b" ") for p in parts[1:])
    for p in parts:
        p.decode("utf-8")
        assert (len(p) - len(p.rstrip(b"\\"))) % 2 == 0
    assert folded.replace(b"\r\n ", b"").decode("utf-8") == line


# --------------------------------------------------------------------------- event properties


def test_event_properties_come_from_the_booking_not_from_now() -> None:
    view = make_view(sequence=3)
    (event,) = events(ical.booking_ics(view))
    assert str(event["UID"]) == view.uid
    assert event.decoded("DTSTAMP") == view.updated_at
    assert event.decoded("LAST-MODIFIED") == view.updated_at
    assert event.decoded("CREATED") == view.created_at
    assert event.decoded("DTSTART") == view.start
    assert event.decoded("DTEND") == view.end
    assert int(str(event["SEQUENCE"])) == 3
    raw = unfold(ical.booking_ics(view))
    assert "DTSTART:20270118T160000Z\r\n" in raw and "DTEND:20270118T170000Z\r\n" in raw
    assert "TZID" not in raw and "VTIMEZONE" not in raw


def test_dtstamp_stable_across_renders_at_different_now() -> None:
    views = [make_view(1), make_view(2, status=BookingStatus.CANCELLED, updated_at=NOW - timedelta(days=2))]
    first = ical.feed_ics(views, name="x", kind="venue", now_for_retention=NOW)
    ical.clear_render_cache()
    second = ical.feed_ics(views, name="x", kind="venue", now_for_retention=NOW + timedelta(days=20))
    assert first == second
    stamps = re.findall(r"DTSTAMP:(\S+)", unfold(first))
    assert stamps == ["20261202T103000Z", "20270108T120000Z"]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ical.booking_ics(make_view(start=datetime(2027, 1, 18, 16), end=datetime(2027, 1, 18, 17)))
    with pytest.raises(ValueError, match="aware"):
        ical.feed_ics([], name="x", kind="booth", now_for_retention=datetime(2027, 1, 1))


def test_local_times_in_description_across_the_8_and_9_hour_weeks() -> None:
    nine = make_view(start=datetime(2027, 1, 18, 16, tzinfo=UTC))
    eight = make_view(start=datetime(2027, 3, 22, 16, tzinfo=UTC))  # 2027: US changed on 14 March
    assert ical.local_times(nine) == (
        "Paris (La Cantine, Cantine A): 2027-01-18 17:00–18:00 CET · "
        "San Francisco (Mission Hub, SF A): 2027-01-18 08:00–09:00 PST"
    )
    assert ical.local_times(eight) == (
        "Paris (La Cantine, Cantine A): 2027-03-22 17:00–18:00 CET · "
        "San Francisco (Mission Hub, SF A): 2027-03-22 09:00–10:00 PDT"
    )
    across = make_view(start=dst_changes(2027)["EU spring"] - timedelta(minutes=30))
    assert "Paris (La Cantine, Cantine A): 2027-03-28 01:30 CET–03:30 CEST" in ical.local_times(across)
    late = make_view(start=datetime(2027, 1, 18, 7, 30, tzinfo=UTC))  # 23:30 the day before in SF
    assert "2027-01-17 23:30–2027-01-18 00:30 PST" in ical.local_times(late)
    (event,) = events(ical.feed_ics([eight], name="x", kind="organizer", now_for_retention=NOW))
    assert ical.local_times(eight) in str(event["DESCRIPTION"])


# --------------------------------------------------------------------------- iTIP methods


def props(data: bytes, name: str) -> list[str]:
    return [line for line in unfold(data).split("\r\n") if line.split(":")[0].split(";")[0] == name]


def test_publish_has_an_organizer_and_no_attendee() -> None:
    data = ical.booking_ics(make_view())
    assert props(data, "METHOD") == ["METHOD:PUBLISH"]
    assert props(data, "ORGANIZER") == ['ORGANIZER;CN="Ada Lovelace":mailto:ada@analytical.example']
    assert props(data, "ATTENDEE") == []


def test_request_has_organizer_attendees_rsvp_and_sequence() -> None:
    view = make_view(
        sequence=2,
        guests=(
            "Charles Babbage <charles@babbage.example>",
            "mary@somerville.example",
            "Grace (no e-mail)",
            "ADA@analytical.example",
        ),
    )
    data = ical.booking_ics(view, method="REQUEST")
    assert props(data, "METHOD") == ["METHOD:REQUEST"]
    assert len(props(data, "ORGANIZER")) == 1
    assert props(data, "SEQUENCE") == ["SEQUENCE:2"]
    attendees = props(data, "ATTENDEE")
    assert attendees == [
        'ATTENDEE;CN="Ada Lovelace";ROLE=CHAIR;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:ada@analytical.example',
        'ATTENDEE;CN="Charles Babbage";CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;'
        "RSVP=TRUE:mailto:charles@babbage.example",
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;"
        "RSVP=TRUE:mailto:mary@somerville.example",
    ]
    (event,) = events(data)
    assert "Grace (no e-mail)" in str(event["DESCRIPTION"])


def test_cancel_keeps_the_uid_and_carries_status_and_sequence() -> None:
    confirmed = make_view(sequence=1)
    cancelled = dataclasses.replace(
        confirmed,
        status=BookingStatus.CANCELLED,
        sequence=2,
        updated_at=confirmed.updated_at + timedelta(days=1),
    )
    request = ical.booking_ics(confirmed, method="REQUEST")
    cancel = ical.booking_ics(cancelled, method="CANCEL")
    assert props(cancel, "METHOD") == ["METHOD:CANCEL"]
    assert props(cancel, "UID") == props(request, "UID")
    assert props(cancel, "STATUS") == ["STATUS:CANCELLED"]
    assert props(cancel, "SEQUENCE") == ["SEQUENCE:2"]
    assert len(props(cancel, "ORGANIZER")) == 1 and len(props(cancel, "ATTENDEE")) == 3
    assert str(events(cancel)[0]["SUMMARY"]) == "Investor call"  # clients add their own "Canceled"


def test_method_errors() -> None:
    with pytest.raises(ValueError, match="method"):
        ical.booking_ics(make_view(), method="REPLY")
    with pytest.raises(ValueError, match="CANCEL"):
        ical.booking_ics(make_view(status=BookingStatus.CANCELLED), method="REQUEST")
    assert ical.content_type("request") == "text/calendar; charset=utf-8; method=REQUEST"
    assert ical.content_type() == "text/calendar; charset=utf-8"


# --------------------------------------------------------------------------- feeds


def test_feed_calendar_properties() -> None:
    data = ical.feed_ics(
        [make_view()],
        name="Ada's sessions, Paris; SF",
        kind="organizer",
        now_for_retention=NOW,
        source_url="https://booths.example/feeds/abc.ics",
    )
    raw = unfold(data)
    for line in (
        "NAME:Ada's sessions\\, Paris\\; SF",
        "X-WR-CALNAME:Ada's sessions\\, Paris\\; SF",
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M",
        "X-PUBLISHED-TTL:PT15M",
        "SOURCE;VALUE=URI:https://booths.example/feeds/abc.ics",
        "CALSCALE:GREGORIAN",
    ):
        assert f"\r\n{line}\r\n" in raw
    assert "METHOD" not in raw
    assert "ORGANIZER" not in raw and "ATTENDEE" not in raw


def test_empty_feed_is_a_calendar_with_one_component() -> None:
    data = ical.feed_ics([], name="Cantine A", kind="booth", now_for_retention=NOW)
    cal = read(data)
    assert cal.walk("VEVENT") == []
    (zone,) = cal.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Etc/UTC"
    assert b"BEGIN:VTIMEZONE" not in ical.feed_ics(
        [make_view()], name="x", kind="booth", now_for_retention=NOW
    )


def test_cancelled_bookings_stay_30_days_after_their_last_change() -> None:
    old_confirmed = make_view(1, updated_at=NOW - timedelta(days=400))
    fresh = make_view(2, status=BookingStatus.CANCELLED, updated_at=NOW - timedelta(days=29))
    edge = make_view(3, status=BookingStatus.CANCELLED, updated_at=NOW - timedelta(days=30))
    stale = make_view(4, status=BookingStatus.CANCELLED, updated_at=NOW - timedelta(days=30, seconds=1))
    data = ical.feed_ics([stale, edge, fresh, old_confirmed], name="x", kind="venue", now_for_retention=NOW)
    shown = {str(e["UID"]): str(e["STATUS"]) for e in events(data)}
    assert shown == {old_confirmed.uid: "CONFIRMED", fresh.uid: "CANCELLED", edge.uid: "CANCELLED"}
    assert ical.feed_version([stale, edge, fresh, old_confirmed], now_for_retention=NOW) == (
        fresh.updated_at,
        3,
    )
    assert ical.feed_version([stale, edge, fresh, old_confirmed]) == (fresh.updated_at, 4)
    assert ical.feed_version([]) == (None, 0)


def test_cancelled_and_rescheduled_status_and_sequence() -> None:
    cancelled = make_view(1, status=BookingStatus.CANCELLED, sequence=1, updated_at=NOW - timedelta(days=3))
    moved_start = datetime(2027, 2, 1, 17, tzinfo=UTC)
    rescheduled = make_view(
        2,
        sequence=2,
        start=moved_start,
        end=moved_start + timedelta(minutes=45),
        updated_at=NOW - timedelta(days=1),
    )
    for kind in ("organizer", "booth", "venue"):
        data = ical.feed_ics([cancelled, rescheduled], name="x", kind=kind, now_for_retention=NOW)
        by_uid = {str(e["UID"]): e for e in events(data)}
        c, r = by_uid[cancelled.uid], by_uid[rescheduled.uid]
        assert (str(c["STATUS"]), int(str(c["SEQUENCE"])), str(c["TRANSP"])) == (
            "CANCELLED",
            1,
            "TRANSPARENT",
        )
        assert str(c["SUMMARY"]).startswith("Cancelled: ")
        assert (str(r["STATUS"]), int(str(r["SEQUENCE"])), str(r["TRANSP"])) == ("CONFIRMED", 2, "OPAQUE")
        assert (r.decoded("DTSTART"), r.decoded("DTEND")) == (
            moved_start,
            moved_start + timedelta(minutes=45),
        )


def test_feed_order_is_stable() -> None:
    views = [make_view(i, start=datetime(2027, 1, 20, 16, tzinfo=UTC) - timedelta(days=i)) for i in range(5)]
    a = ical.feed_ics(views, name="x", kind="venue", now_for_retention=NOW)
    b = ical.feed_ics(list(reversed(views)), name="x", kind="venue", now_for_retention=NOW)
    assert a == b
    starts = [e.decoded("DTSTART") for e in events(a)]
    assert starts == sorted(starts)


def test_full_feeds_carry_the_details() -> None:
    view = make_view(title=TRICKY_TITLE)
    for kind in ("organizer", "venue"):
        data = ical.feed_ics(
            [view],
            name="x",
            kind=kind,
            now_for_retention=NOW,
            url_for=lambda v: f"https://booths.example/b/{v.id}",
        )
        (event,) = events(data)
        assert str(event["SUMMARY"]) == TRICKY_TITLE
        description = str(event["DESCRIPTION"])
        for part in (
            ical.local_times(view),
            "Ada Lovelace",
            "Analytical Engines SAS",
            "ada@analytical.example",
            "charles@babbage.example",
            "https://booths.example/b/1",
        ):
            assert part in description
        assert "Cantine A, La Cantine, 151 rue Montmartre" in str(event["LOCATION"])
        assert str(event["URL"]) == "https://booths.example/b/1"


def test_unknown_feed_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        ical.feed_ics([], name="x", kind="public", now_for_retention=NOW)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- busy-only privacy

PRIVATE_FIELDS = ("title", "organizer_name", "organizer_email", "organizer_company", "guests")
#: Fields of BookingView that no calendar shows (internal ids, the staff's override note).
NOT_RENDERED = ("id", "organizer_id", "override_reason")


def booth_feed(views: list) -> bytes:
    return ical.feed_ics(
        views,
        name="Cantine A",
        kind="booth",
        now_for_retention=NOW,
        url_for=lambda v: f"https://booths.example/b/{v.id}",
    )


def test_booth_feed_is_busy_only() -> None:
    data = booth_feed([make_view(title=TRICKY_TITLE)])
    (event,) = events(data)
    assert str(event["SUMMARY"]) == "Booked"
    assert str(event["CLASS"]) == "PUBLIC" and str(event["TRANSP"]) == "OPAQUE"
    for name in ("DESCRIPTION", "LOCATION", "URL", "ORGANIZER", "ATTENDEE", "CONTACT", "COMMENT"):
        assert name not in event


#: Parts of the generated e-mail addresses that are not private (the uid ends in ".example" too).
COMMON_WORDS = {"example"}


def _leaks(data: bytes, secrets: list[str]) -> list[str]:
    raw = data.decode("utf-8")
    unfolded = unfold(data)
    unescaped = unfolded.replace("\\n", "\n").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")
    found = []
    for secret in secrets:
        forms = {secret, escape_text(secret), secret.lower(), secret.upper()}
        forms |= {
            part
            for part in re.split(r"[\s,;<>@.\\\"()]+", secret)
            if len(part) >= 4 and part not in COMMON_WORDS
        }
        for form in forms:
            for text in (raw, unfolded, unescaped):
                if form and form in text:
                    found.append(f"{secret!r} as {form!r}")
    return found


def varied_private_data() -> list[dict]:
    words = ["Zorblax", "Quintessa", "Fjördur", "Œuvrebis", "東京スタジオ", "Ngozi-Okonkwo", "Xylophant"]
    out = []
    for i, w in enumerate(words):
        w2 = words[(i + 3) % len(words)]
        out.append(
            {
                "title": f'{w} pitch, round {i}; "{w2}"\nnotes — C:\\{w}',
                "organizer_name": f"{w} {w2}ovic",
                "organizer_email": f"{w.lower()}.{i}@{w2.lower()}-corp.example",
                "organizer_company": f"{w2} Holdings; {w} Ltd, Inc.",
                "guests": (
                    f"{w2} Guestly <{w2.lower()}guest@{w.lower()}mail.example>",
                    f"plain{w}{i}@guest.example",
                ),
            }
        )
    return out


@pytest.mark.parametrize("private", varied_private_data(), ids=lambda p: p["organizer_name"])
def test_booth_feed_leaks_no_identifying_text(private: dict) -> None:
    views = [
        make_view(1, **private),
        make_view(2, status=BookingStatus.CANCELLED, updated_at=NOW - timedelta(days=1), **private),
    ]
    secrets = [
        private["title"],
        private["organizer_name"],
        private["organizer_email"],
        private["organizer_company"],
        *private["guests"],
    ]
    assert _leaks(booth_feed(views), secrets) == []
    # The same data does appear in the full feed: the check can see it when it is there.
    full = ical.feed_ics(views, name="x", kind="venue", now_for_retention=NOW)
    assert len(_leaks(full, secrets)) >= len(secrets)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(max_size=120),
    organizer_name=st.text(max_size=60),
    organizer_email=st.emails(),
    organizer_company=st.text(max_size=60),
    guests=st.lists(st.one_of(st.emails(), st.text(max_size=40)), max_size=4).map(tuple),
)
def test_booth_feed_does_not_depend_on_private_fields(
    title, organizer_name, organizer_email, organizer_company, guests
) -> None:
    """Whatever the private fields hold, the busy-only feed is byte-for-byte the same: no form of
    them (escaped, folded, truncated) can be in it."""
    base = [make_view(1), make_view(2, status=BookingStatus.CANCELLED, updated_at=NOW - timedelta(days=1))]
    changed = [
        dataclasses.replace(
            v,
            title=title,
            organizer_name=organizer_name,
            organizer_email=organizer_email,
            organizer_company=organizer_company,
            guests=guests,
        )
        for v in base
    ]
    assert booth_feed(changed) == booth_feed(base)


# --------------------------------------------------------------------------- render cache


def _changed(value: object) -> object:
    if isinstance(value, BookingStatus):  # before str: BookingStatus is a str enum
        return BookingStatus.CANCELLED if value is BookingStatus.CONFIRMED else BookingStatus.CONFIRMED
    if value is None:
        return "something"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, datetime):
        return value + timedelta(minutes=5)
    if isinstance(value, tuple) and value and isinstance(value[0], Booth):
        return (dataclasses.replace(value[0], name=value[0].name + "x"), *value[1:])
    if isinstance(value, tuple):
        return (*value, "new@guest.example")
    raise AssertionError(f"no way to change {value!r}")


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(make_view())])
def test_every_field_reaches_the_cached_bytes(field: str) -> None:
    """The render cache is keyed by every input: a change to any field shows in the output."""
    view = make_view(updated_at=NOW - timedelta(days=1))
    change: dict[str, Any] = {field: _changed(getattr(view, field))}
    other = dataclasses.replace(view, **change)
    for kind in ("organizer", "venue"):
        before = ical.feed_ics([view], name="x", kind=kind, now_for_retention=NOW)
        after = ical.feed_ics([other], name="x", kind=kind, now_for_retention=NOW)
        if field in NOT_RENDERED:
            assert before == after
        else:
            assert before != after, f"{field} does not change the {kind} feed"
    booth_before = booth_feed([view])
    booth_after = booth_feed([other])
    assert (booth_before != booth_after) == (field not in (*PRIVATE_FIELDS, *NOT_RENDERED, "booths"))


@pytest.mark.parametrize(
    "change",
    [
        lambda b: dataclasses.replace(b, venue=dataclasses.replace(b.venue, name="Renamed")),
        lambda b: dataclasses.replace(b, venue=dataclasses.replace(b.venue, city="Lyon")),
        lambda b: dataclasses.replace(b, venue=dataclasses.replace(b.venue, timezone="Europe/London")),
        lambda b: dataclasses.replace(b, venue=dataclasses.replace(b.venue, address="1 rue Neuve")),
    ],
)
def test_venue_changes_reach_the_cached_bytes(change) -> None:
    view = make_view()
    other = dataclasses.replace(view, booths=(change(CANTINE_A), SF_A))
    before = ical.feed_ics([view], name="x", kind="organizer", now_for_retention=NOW)
    assert ical.feed_ics([other], name="x", kind="organizer", now_for_retention=NOW) != before


def test_cached_render_equals_a_cold_render() -> None:
    views = [make_view(i, title=TRICKY_TITLE) for i in range(20)]
    warm = ical.feed_ics(views, name="x", kind="venue", now_for_retention=NOW)
    again = ical.feed_ics(views, name="x", kind="venue", now_for_retention=NOW)
    ical.clear_render_cache()
    cold = ical.feed_ics(views, name="x", kind="venue", now_for_retention=NOW)
    assert warm == again == cold


# --------------------------------------------------------------------------- free/busy


def test_freebusy_merges_clips_and_writes_utc() -> None:
    t = datetime(2027, 3, 22, 16, tzinfo=UTC)
    ranges: list[TimeRange | tuple[datetime, datetime]] = [
        TimeRange(t, t + timedelta(hours=1)),
        (t + timedelta(minutes=30), t + timedelta(hours=2)),  # overlaps the first
        TimeRange(t - timedelta(days=40), t - timedelta(days=39)),  # before the window
        TimeRange(t + timedelta(days=1), t + timedelta(days=1, hours=1)),
    ]
    start, end = datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC)
    data = ical.freebusy_ics("Cantine A", ranges, start, end, now=NOW)
    raw = unfold(data)
    assert props(data, "FREEBUSY") == [
        "FREEBUSY;VALUE=PERIOD;FBTYPE=BUSY:20270322T160000Z/20270322T180000Z",
        "FREEBUSY;VALUE=PERIOD;FBTYPE=BUSY:20270323T160000Z/20270323T170000Z",
    ]
    assert "DTSTART:20270301T000000Z" in raw and "DTEND:20270401T000000Z" in raw
    assert "DTSTAMP:20270110T120000Z" in raw
    (fb,) = read(data).walk("VFREEBUSY")
    assert str(fb["UID"]).startswith("freebusy-")
    assert data == ical.freebusy_ics("Cantine A", ranges, start, end, now=NOW)
    with pytest.raises(ValueError):
        ical.freebusy_ics("Cantine A", [], end, start, now=NOW)
    with pytest.raises(ValueError):
        ical.freebusy_ics("Cantine A", [], datetime(2027, 3, 1), end, now=NOW)


# --------------------------------------------------------------------------- links


def test_google_calendar_link() -> None:
    view = make_view(title="Pitch & demo: 100% + Q&A? #1 Café, 東京")
    url = ical.google_calendar_url(view, url="https://booths.example/b/1?x=1&y=2")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "calendar.google.com", "/calendar/render")
    assert " " not in url and "+" not in parts.query
    q = parse_qs(parts.query, strict_parsing=True)
    assert q["action"] == ["TEMPLATE"]
    assert q["text"] == [view.title]
    assert q["dates"] == ["20270118T160000Z/20270118T170000Z"]
    assert q["details"] == [ical.local_times(view) + "\nhttps://booths.example/b/1?x=1&y=2"]
    assert q["location"][0].startswith("Cantine A, La Cantine")


def test_outlook_calendar_link() -> None:
    view = make_view(title="Pitch & demo: 100% + Q&A? #1 Café, 東京")
    url = ical.outlook_calendar_url(view)
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("outlook.live.com", "/calendar/0/deeplink/compose")
    assert " " not in url and "+" not in parts.query
    q = parse_qs(parts.query, strict_parsing=True)
    assert q["subject"] == [view.title]
    assert q["startdt"] == ["2027-01-18T16:00:00Z"] and q["enddt"] == ["2027-01-18T17:00:00Z"]
    assert q["body"] == [ical.local_times(view)]
    assert q["path"] == ["/calendar/action/compose"] and q["rru"] == ["addevent"]
    assert PARIS.name in q["location"][0]

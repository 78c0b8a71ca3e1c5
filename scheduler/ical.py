"""Calendar export: iCalendar files and feeds of bookings, plus "add to calendar" links.

The only module of the project that imports ``icalendar``. Pure functions that return bytes
(or a URL); no I/O and no clock: whatever depends on the time takes it as an argument.

Public API
==========

* :func:`booking_ics` — one booking as a ``.ics`` file: ``METHOD:PUBLISH`` (a download, with an
  ORGANIZER), ``REQUEST`` (an invitation: ORGANIZER, one ATTENDEE per guest with an e-mail
  address, RSVP) or ``CANCEL`` (``STATUS:CANCELLED``, same UID, the booking's SEQUENCE), as
  RFC 5546 requires of each method.
* :func:`feed_ics` — a subscription feed: ``kind="organizer"`` (an entrepreneur's bookings, full
  details), ``"venue"`` (staff, full details) or ``"booth"`` (busy-only: SUMMARY ``Booked``, no
  title, name, e-mail, company, guest, description, location or URL). Cancelled bookings stay in
  a feed, ``STATUS:CANCELLED``, for :data:`CANCELLED_RETENTION` after their last change.
* :func:`freebusy_ics` — a VFREEBUSY of a booth over a requested range.
* :func:`google_calendar_url`, :func:`outlook_calendar_url` — "add to calendar" template links.
* :func:`feed_version` — (latest ``updated_at``, number of events) of what a feed would show, for
  the server's ETag/Last-Modified; :func:`feed_views` — the events themselves, in feed order.
* :func:`content_type` — the HTTP/MIME type of the bytes, with the iTIP ``method`` parameter.
* :func:`local_times` — "Paris (La Cantine, Cantine A): 2027-03-15 17:00–18:00 CET · …", the
  line the full forms and the links carry; :func:`clear_render_cache`.

Every VEVENT carries ``UID`` = ``view.uid``, ``DTSTAMP`` and ``LAST-MODIFIED`` =
``view.updated_at`` (never "now": two renders of an unchanged booking are identical, so clients
and ETags see no change), ``CREATED``, ``SEQUENCE`` = ``view.sequence``, and ``STATUS``.
``view.uid`` must be opaque (it is also in the public booth feed).

Time-zone form: UTC
===================

``DTSTART``/``DTEND`` are written in UTC (``...Z``) and no VTIMEZONE is needed. Measured on
2026-11-29 with ical.js 2.2.1 (Thunderbird), libical 3.0.16 (Evolution) and vobject 0.9.9
(dateutil), 156 one-hour events, one per city, around every EU change (last Sunday of March and
October, 01:00 UTC) and US change (2nd Sunday of March, 1st Sunday of November, 02:00 local) of
2026–2028 (−3 d, −2 h, −1 h, 0, +1 h, +3 d) plus mid-January and mid-July:

==========================================  =========  ==========  =========
form                                        ical.js    libical     vobject
==========================================  =========  ==========  =========
UTC (``Z``), this module                    0 wrong    0 wrong     0 wrong
TZID + icalendar 7.3 VTIMEZONE (RDATE)      81 wrong   9 wrong     81 wrong
TZID + hand-written RRULE VTIMEZONE         9 wrong    9 wrong     12 wrong
==========================================  =========  ==========  =========

* icalendar's own VTIMEZONE (``add_missing_timezones``, one RDATE list per block): ical.js and
  vobject read every summer-time Paris and San Francisco event one hour late (e.g. Paris
  2026-03-29 03:00 CEST read as 02:00Z instead of 01:00Z); libical also rejects its ``COMMENT``
  in VTIMEZONE (an RFC 5546 restriction error).
* Even a correct RRULE VTIMEZONE cannot say which of the two 01:00–02:00 (San Francisco) or
  02:00–03:00 (Paris) hours of the autumn change is meant: ical.js and libical take the second
  (RFC 5545 §3.3.5 says the first), vobject always the first, so events in the repeated hour
  (and events ending in it) move by an hour in some client.
* A booking holds booths in two zones at once, so no single TZID would be "its" zone anyway; the
  local times of both cities are written into DESCRIPTION (full forms), and clients show the UTC
  instant in their user's own zone (Google Calendar's own .ics export also writes single
  events in UTC).

Other choices
=============

* Feeds carry no METHOD (they are not iTIP messages; ``METHOD:PUBLISH`` would require an
  ORGANIZER in every event, which the busy-only feed must not have), and no ORGANIZER or ATTENDEE
  (in a read-only subscription they make clients offer invitation buttons that cannot work):
  organizer and guests are written into DESCRIPTION in the full forms.
* RFC 5545 §3.4 requires at least one component in a VCALENDAR, and strict parsers (ical4j in
  DAVx⁵/ICSx⁵, sabre/vobject validation) reject an empty one; a feed with no event therefore
  carries one VTIMEZONE, ``Etc/UTC`` (offset 0, no rules), which no event references. ical.js,
  libical and vobject accept both forms.
* A cancelled booking also gets ``TRANSP:TRANSPARENT`` and ``Cancelled: `` in its SUMMARY,
  because Outlook.com shows subscribed events without looking at STATUS.
* Escaping and folding are done here, not by ``icalendar``: icalendar 7.3's ``escape_char``
  turns a literal backslash-N of user text (``C:\\Notes``) into a line break, and its
  ``foldline`` is deprecated for removal in icalendar 8 (and costs 25 µs a line). Lines are
  folded at 75 octets, never inside a UTF-8 sequence nor between a backslash and the character
  it escapes. icalendar 7.3 also writes NAME and X-WR-CALNAME unescaped unless given as ``vText``.
* Speed: icalendar builds the VCALENDAR shell, the placeholder VTIMEZONE and the VFREEBUSY;
  VEVENTs are written as content lines directly, because ``icalendar.Event`` + ``to_ical`` costs
  about 0.4 ms per event (4 s for 10,000). Feed events are also kept in a bounded in-process
  memo, :data:`RENDER_CACHE_SIZE` entries keyed by every input of their bytes, so a feed polled
  again re-renders only what changed. ``bench/bench_ical.py``, 10,000 bookings, 2 busy cores,
  medians: full feeds 330–570 ms cold (busy-only 130–270 ms), 12–65 ms warm, against 3.2–4.9 s
  for icalendar's own writer in the same runs; the 300 ms goal holds warm, not always cold.
  Tests check the output with icalendar's parser and the three client parsers, and that every
  input of an event changes its cached bytes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache
from typing import Literal, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

import icalendar

from scheduler import bounds
from scheduler.model import BookingStatus, BookingView

__all__ = [
    "CANCELLED_RETENTION",
    "FEED_REFRESH",
    "PRODID",
    "FeedKind",
    "Method",
    "RENDER_CACHE_SIZE",
    "booking_ics",
    "clear_render_cache",
    "content_type",
    "feed_ics",
    "feed_version",
    "feed_views",
    "freebusy_ics",
    "google_calendar_url",
    "local_times",
    "outlook_calendar_url",
]

PRODID = "-//Sebastian//Paris-San Francisco booths//EN"
#: How often clients should poll a feed (RFC 7986 REFRESH-INTERVAL and X-PUBLISHED-TTL).
FEED_REFRESH = timedelta(minutes=15)
#: How long a cancelled booking stays in feeds after its last change.
CANCELLED_RETENTION = timedelta(days=30)
BOOTH_SUMMARY = "Booked"
CANCELLED_PREFIX = "Cancelled: "

FeedKind = Literal["organizer", "booth", "venue"]
Method = Literal["PUBLISH", "REQUEST", "CANCEL"]
FEED_KINDS: tuple[str, ...] = ("organizer", "booth", "venue")
METHODS: tuple[str, ...] = ("PUBLISH", "REQUEST", "CANCEL")

_UTC = UTC
_CRLF = "\r\n"
_END_VCALENDAR = b"END:VCALENDAR\r\n"
# Control characters are not allowed in TEXT (RFC 5545 §3.3.11) except HTAB; CR and LF become \n.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_OCTETS = 75


class _Range(Protocol):
    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


# --------------------------------------------------------------------------- content lines


def _escape(text: str) -> str:
    """TEXT value escaping of RFC 5545 §3.3.11 (backslash first, so nothing is escaped twice)."""
    if not text.isprintable():  # rare: spares the regular expression on almost every value
        text = _CONTROLS.sub("", text)
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def _param(text: str) -> str:
    """A quoted parameter value (CN): DQUOTE and controls cannot appear in one (RFC 5545 §3.2)."""
    clean = " ".join(_CONTROLS.sub("", text).replace('"', "'").split())
    return f'"{clean}"'


def _uri(text: str) -> str:
    return "".join(_CONTROLS.sub("", text).split())


def _stamp(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: calendar times must be timezone-aware")
    if value.tzinfo is not _UTC:
        value = value.astimezone(_UTC)
    # %-formatting of the fields: a third of isoformat-and-replace, a tenth of strftime, which
    # matters at four stamps an event and 10,000 events.
    return "%04d%02d%02dT%02d%02d%02dZ" % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
    )


def _fold(line: str) -> bytes:
    """One content line as UTF-8, folded at 75 octets (RFC 5545 §3.1).

    A fold never splits a UTF-8 sequence, nor a backslash escape from the character it escapes
    (allowed by the RFC, mishandled by some clients: icalendar issue #1501).
    """
    try:
        data = line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in a row stored before bounds.check_text
        data = bounds.readable(line).encode("utf-8")
    if len(data) <= _LINE_OCTETS:
        return data
    parts = []
    start, room, size = 0, _LINE_OCTETS, len(data)
    while size - start > room:
        cut = start + room
        while data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: back up to the lead byte
            cut -= 1
        run = 0
        while cut - 1 - run >= 0 and data[cut - 1 - run] == 0x5C:  # backslashes before the cut
            run += 1
        if run % 2:  # the last one starts an escape: keep it with what it escapes
            cut -= 1
        parts.append(data[start:cut])
        start, room = cut, _LINE_OCTETS - 1  # continuation lines start with one space
    parts.append(data[start:])
    return b"\r\n ".join(parts)


def _component(name: str, lines: Iterable[str]) -> bytes:
    # Most lines are short ASCII: encode them inline, sparing a call per line at 10,000 events.
    body = b"\r\n".join(
        [line.encode() if len(line) <= _LINE_OCTETS and line.isascii() else _fold(line) for line in lines]
    )
    return b"BEGIN:%s\r\n%s\r\nEND:%s\r\n" % (name.encode(), body, name.encode())


# --------------------------------------------------------------------------- booking details


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_span(start: datetime, end: datetime, zone_name: str) -> str:
    zone = _zone(zone_name)
    s, e = start.astimezone(zone), end.astimezone(zone)
    s_abbr, e_abbr = s.tzname(), e.tzname()
    first = "%04d-%02d-%02d %02d:%02d" % (s.year, s.month, s.day, s.hour, s.minute)
    if s_abbr != e_abbr:
        first += f" {s_abbr}"
    last = "%02d:%02d" % (e.hour, e.minute)
    if e.date() != s.date():
        last = "%04d-%02d-%02d %s" % (e.year, e.month, e.day, last)
    return f"{first}–{last} {e_abbr}"


def local_times(view: BookingView) -> str:
    """Each booth of the booking with its city's local time, e.g.
    ``Paris (La Cantine, Cantine A): 2027-03-15 17:00–18:00 CET · San Francisco (…): …``."""
    return " · ".join(
        f"{b.venue.city} ({b.venue.name}, {b.name}): {_local_span(view.start, view.end, b.venue.timezone)}"
        for b in view.booths
    )


def _location(view: BookingView) -> str:
    return " · ".join(
        ", ".join(part for part in (b.name, b.venue.name, b.venue.address or b.venue.city) if part)
        for b in view.booths
    )


def _organizer_text(view: BookingView) -> str:
    who = view.organizer_name or view.organizer_email
    if view.organizer_company:
        who += f" ({view.organizer_company})"
    if view.organizer_email and view.organizer_email != who:
        who += f" <{view.organizer_email}>"
    return who


def _description(view: BookingView, url: str | None) -> str:
    lines = [local_times(view), f"Organizer: {_organizer_text(view)}"]
    if view.guests:
        lines.append("Guests: " + ", ".join(view.guests))
    if url:
        lines.append(url)
    return "\n".join(lines)


def _summary(view: BookingView, *, cancelled: bool) -> str:
    title = view.title if view.title.strip() else "Booth session"
    return CANCELLED_PREFIX + title if cancelled else title


def _guest_address(guest: str) -> tuple[str, str] | None:
    """(display name, e-mail) of a guest given as ``a@b`` or ``Name <a@b>``; None if no e-mail."""
    name, addr = parseaddr(guest)
    if "@" not in addr or any(c.isspace() or c in '<>"' for c in addr):
        return None
    return name, addr


def _event_lines(
    view: BookingView,
    *,
    busy_only: bool,
    method: str | None,
    url: str | None,
    mailer: tuple[str, str] | None = None,
) -> list[str]:
    cancelled = view.status is BookingStatus.CANCELLED or method == "CANCEL"
    updated = _stamp(view.updated_at)
    lines = [
        f"UID:{_escape(view.uid)}",
        f"DTSTAMP:{updated}",
        f"CREATED:{_stamp(view.created_at)}",
        f"LAST-MODIFIED:{updated}",
        f"SEQUENCE:{int(view.sequence)}",
        f"DTSTART:{_stamp(view.start)}",
        f"DTEND:{_stamp(view.end)}",
        "STATUS:CANCELLED" if cancelled else "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT" if cancelled else "TRANSP:OPAQUE",
    ]
    if busy_only:
        lines.append("CLASS:PUBLIC")
        lines.append(f"SUMMARY:{CANCELLED_PREFIX + BOOTH_SUMMARY if cancelled else BOOTH_SUMMARY}")
        return lines
    lines.append(f"SUMMARY:{_escape(_summary(view, cancelled=cancelled and method != 'CANCEL'))}")
    lines.append(f"LOCATION:{_escape(_location(view))}")
    lines.append(f"DESCRIPTION:{_escape(_description(view, url))}")
    if url:
        lines.append(f"URL:{_uri(url)}")
    if method is not None and mailer is not None:
        lines.extend(_mailed_people(view, mailer))
    elif method is not None:
        organizer = f"mailto:{_uri(view.organizer_email)}"
        cn = view.organizer_name or view.organizer_email
        lines.append(f"ORGANIZER;CN={_param(cn)}:{organizer}")
        if method in ("REQUEST", "CANCEL"):
            # The organizer is listed as an attendee (chair) too, as Google and Outlook do; it
            # also keeps REQUEST valid (RFC 5546 §3.2.2 wants 1+ ATTENDEE) with no guests.
            lines.append(f"ATTENDEE;CN={_param(cn)};ROLE=CHAIR;PARTSTAT=ACCEPTED;RSVP=FALSE:{organizer}")
            seen = {view.organizer_email.lower()}
            for guest in view.guests:
                address = _guest_address(guest)
                if address is None or address[1].lower() in seen:
                    continue
                seen.add(address[1].lower())
                name, email = address
                cn_part = f";CN={_param(name)}" if name else ""
                lines.append(
                    f"ATTENDEE{cn_part};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;"
                    f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{email}"
                )
    return lines


def _mailed_people(view: BookingView, mailer: tuple[str, str]) -> list[str]:
    """ORGANIZER and ATTENDEEs of an invitation the server mails itself (RFC 6047).

    The ORGANIZER is the server's own From address, so that the sender of the message is its
    organizer (Gmail and Outlook trust an invitation whose From matches its ORGANIZER, and each
    recipient, the booking's organizer included, gets the usual invitation buttons). The
    booking's organizer and each guest are ATTENDEEs; RSVP=FALSE, as the server reads no replies.
    """
    name, address = mailer
    lines = [f"ORGANIZER;CN={_param(name or address)}:mailto:{_uri(address)}"]
    cn = view.organizer_name or view.organizer_email
    lines.append(
        f"ATTENDEE;CN={_param(cn)};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;"
        f"PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:{_uri(view.organizer_email)}"
    )
    seen = {view.organizer_email.lower()}
    for guest in view.guests:
        found = _guest_address(guest)
        if found is None or found[1].lower() in seen:
            continue
        seen.add(found[1].lower())
        cn_part = f";CN={_param(found[0])}" if found[0] else ""
        lines.append(
            f"ATTENDEE{cn_part};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;"
            f"PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:{found[1]}"
        )
    return lines


# --------------------------------------------------------------------------- render cache

#: Feed VEVENTs rendered recently, keyed by everything their bytes depend on (see _render_key).
#: A pure memo: the same key always renders the same bytes, so it can never serve stale data as
#: long as the key is complete (tests change every field of BookingView and of its booths and
#: check the output follows). Bounded; about 0.3–0.7 KB per entry.
RENDER_CACHE_SIZE = 20_000
_render_cache: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
_render_lock = threading.Lock()


def clear_render_cache() -> None:
    """Forget every rendered event (tests and benchmarks use it to measure a cold render)."""
    with _render_lock:
        _render_cache.clear()


def _render_key(view: BookingView, busy_only: bool, url: str | None) -> tuple[object, ...]:
    base = (
        busy_only,
        view.uid,
        view.sequence,
        view.status,
        view.start,
        view.end,
        view.created_at,
        view.updated_at,
    )
    if busy_only:
        return base
    return (
        *base,
        url,
        view.title,
        view.organizer_name,
        view.organizer_email,
        view.organizer_company,
        view.guests,
        tuple((b.name, b.venue.name, b.venue.city, b.venue.timezone, b.venue.address) for b in view.booths),
    )


def _feed_event(view: BookingView, busy_only: bool, url: str | None) -> bytes:
    key = _render_key(view, busy_only, url)
    with _render_lock:  # feeds may be rendered in executor threads
        data = _render_cache.get(key)
        if data is not None:
            _render_cache.move_to_end(key)
            return data
    data = _component("VEVENT", _event_lines(view, busy_only=busy_only, method=None, url=url))
    with _render_lock:
        _render_cache[key] = data
        if len(_render_cache) > RENDER_CACHE_SIZE:
            _render_cache.popitem(last=False)
    return data


# --------------------------------------------------------------------------- calendars


def _calendar_shell(
    *,
    prodid: str,
    method: str | None = None,
    name: str | None = None,
    description: str | None = None,
    source_url: str | None = None,
    refresh: bool = False,
    placeholder_timezone: bool = False,
) -> bytes:
    """The VCALENDAR without its events, written by icalendar; events go before END:VCALENDAR."""
    cal = icalendar.Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", prodid)
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        # Given as vText: icalendar 7.3 types NAME and X-WR-CALNAME as unknown and skips escaping.
        cal["name"] = icalendar.vText(name)
        cal["x-wr-calname"] = icalendar.vText(name)
    if description:
        cal["description"] = icalendar.vText(description)
        cal["x-wr-caldesc"] = icalendar.vText(description)
    if source_url:
        cal.add("source", _uri(source_url), parameters={"VALUE": "URI"})
    if refresh:
        cal.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
        cal["x-published-ttl"] = icalendar.vDuration(FEED_REFRESH)
    if placeholder_timezone:
        cal.add_component(_utc_vtimezone())
    data = cal.to_ical(sorted=False)
    assert data.endswith(_END_VCALENDAR)
    return data[: -len(_END_VCALENDAR)]


def _utc_vtimezone() -> icalendar.Timezone:
    zone = icalendar.Timezone()
    zone.add("tzid", "Etc/UTC")
    standard = icalendar.TimezoneStandard()
    standard.add("dtstart", datetime(1970, 1, 1))
    standard.add("tzoffsetfrom", timedelta(0))
    standard.add("tzoffsetto", timedelta(0))
    standard.add("tzname", "UTC")
    zone.add_component(standard)
    return zone


def _join(shell: bytes, events: Iterable[bytes]) -> bytes:
    return b"".join((shell, *events, _END_VCALENDAR))


def booking_ics(
    view: BookingView,
    *,
    method: str = "PUBLISH",
    prodid: str = PRODID,
    url: str | None = None,
    mailer: tuple[str, str] | None = None,
) -> bytes:
    """One booking as an iCalendar object (``.ics`` download or e-mail attachment).

    ``method``: ``PUBLISH`` (ORGANIZER, no ATTENDEE), ``REQUEST`` (ORGANIZER, the organizer as
    CHAIR and each guest with an e-mail address as ATTENDEE with RSVP; not for a cancelled
    booking) or ``CANCEL`` (STATUS:CANCELLED; send it with the ``view.sequence`` raised by the
    cancellation). ``url`` links back to the booking page. ``mailer`` (display name, address):
    the object is mailed by the server from that address (iMIP, RFC 6047), which is then the
    ORGANIZER, and the booking's organizer is an ATTENDEE like each guest. Raises ``ValueError`` for an unknown
    method or a REQUEST of a cancelled booking.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown iTIP method {method!r}; use one of {', '.join(METHODS)}")
    if method == "REQUEST" and view.status is BookingStatus.CANCELLED:
        raise ValueError("a cancelled booking is sent with method CANCEL, not REQUEST")
    shell = _calendar_shell(prodid=prodid, method=method)
    lines = _event_lines(view, busy_only=False, method=method, url=url, mailer=mailer)
    return _join(shell, [_component("VEVENT", lines)])


def feed_views(views: Iterable[BookingView], *, now_for_retention: datetime) -> list[BookingView]:
    """The bookings a feed shows, in feed order (start, then UID): every confirmed one, and the
    cancelled ones changed at most :data:`CANCELLED_RETENTION` before ``now_for_retention``."""
    if now_for_retention.tzinfo is None:
        raise ValueError("now_for_retention must be timezone-aware")
    oldest = now_for_retention - CANCELLED_RETENTION
    kept = [v for v in views if v.status is not BookingStatus.CANCELLED or v.updated_at >= oldest]
    kept.sort(key=lambda v: (v.start, v.uid))
    return kept


def feed_version(
    views: Iterable[BookingView], *, now_for_retention: datetime | None = None
) -> tuple[datetime | None, int]:
    """(latest ``updated_at``, number of events) of a feed, for ETag and Last-Modified.

    With ``now_for_retention`` the count is of what :func:`feed_ics` would show, so a cancelled
    booking leaving the feed after :data:`CANCELLED_RETENTION` changes the version. The feed's
    name, venue or booth names are not part of it: the server adds them to its ETag if they can
    change.
    """
    shown = (
        list(views) if now_for_retention is None else feed_views(views, now_for_retention=now_for_retention)
    )
    return max((v.updated_at for v in shown), default=None), len(shown)


def feed_ics(
    views: Iterable[BookingView],
    *,
    name: str,
    kind: FeedKind,
    now_for_retention: datetime,
    prodid: str = PRODID,
    description: str | None = None,
    source_url: str | None = None,
    url_for: Callable[[BookingView], str | None] | None = None,
) -> bytes:
    """A subscription feed of bookings.

    ``kind``: ``"organizer"`` (an entrepreneur's own bookings) and ``"venue"`` (staff) show the
    title, both booths with both cities' local times, the organizer and guests;
    ``"booth"`` shows only that the booth is busy (SUMMARY ``Booked``, no DESCRIPTION, LOCATION,
    URL, ORGANIZER or ATTENDEE). The caller chooses which bookings belong to the feed;
    ``now_for_retention`` only decides which cancelled ones are old enough to leave it.
    ``url_for`` gives each booking's page (full kinds only); ``source_url`` is the feed's own
    address (RFC 7986 SOURCE).
    """
    if kind not in FEED_KINDS:
        raise ValueError(f"unknown feed kind {kind!r}; use one of {', '.join(FEED_KINDS)}")
    busy_only = kind == "booth"
    shown = feed_views(views, now_for_retention=now_for_retention)
    shell = _calendar_shell(
        prodid=prodid,
        name=name,
        description=description,
        source_url=source_url,
        refresh=True,
        placeholder_timezone=not shown,
    )
    if busy_only or url_for is None:
        events = [_feed_event(v, busy_only, None) for v in shown]
    else:
        events = [_feed_event(v, busy_only, url_for(v)) for v in shown]
    return _join(shell, events)


def _merge(
    ranges: Iterable[_Range | tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    clipped = []
    for r in ranges:
        s, e = r if isinstance(r, tuple) else (r.start, r.end)
        s, e = max(s, start), min(e, end)
        if s < e:
            clipped.append((s, e))
    clipped.sort()
    merged: list[tuple[datetime, datetime]] = []
    for s, e in clipped:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def freebusy_ics(
    booth_name: str,
    busy_ranges: Iterable[_Range | tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    prodid: str = PRODID,
    uid: str | None = None,
) -> bytes:
    """A VFREEBUSY of one booth over ``[start, end)``: its busy ranges (objects with ``start``
    and ``end``, or pairs) clipped to the range, merged, as ``FREEBUSY;FBTYPE=BUSY`` periods in
    UTC. ``now`` is the DTSTAMP; ``uid`` defaults to one derived from the booth and the range."""
    for label, value in (("start", start), ("end", end), ("now", now)):
        if value.tzinfo is None:
            raise ValueError(f"{label} must be timezone-aware")
    start, end = start.astimezone(_UTC), end.astimezone(_UTC)
    if end <= start:
        raise ValueError("the free/busy range must end after it starts")
    if uid is None:
        digest = hashlib.sha256(f"{booth_name}\0{_stamp(start)}\0{_stamp(end)}".encode()).hexdigest()[:32]
        uid = f"freebusy-{digest}@sebastian"
    cal = icalendar.Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", prodid)
    cal.add("calscale", "GREGORIAN")
    cal["name"] = icalendar.vText(booth_name)
    cal["x-wr-calname"] = icalendar.vText(booth_name)
    fb = icalendar.FreeBusy()
    fb.add("uid", uid)
    fb.add("dtstamp", now.astimezone(_UTC))
    fb.add("dtstart", start)
    fb.add("dtend", end)
    fb.add("comment", booth_name)
    for s, e in _merge(busy_ranges, start, end):
        fb.add(
            "freebusy",
            icalendar.vPeriod((s.astimezone(_UTC), e.astimezone(_UTC))),
            parameters={"FBTYPE": "BUSY"},
        )
    cal.add_component(fb)
    return cal.to_ical(sorted=False)


def content_type(method: str | None = None) -> str:
    """``text/calendar; charset=utf-8`` plus ``; method=...`` for an iTIP object (RFC 5546 §6)."""
    return "text/calendar; charset=utf-8" + (f"; method={method.upper()}" if method else "")


# --------------------------------------------------------------------------- links


def _query(params: Sequence[tuple[str, str]]) -> str:
    # %20 rather than "+" for spaces: Outlook's deep link shows a "+" literally.
    return "&".join(f"{k}={quote(v, safe='/:')}" for k, v in params)


def _link_details(view: BookingView, url: str | None) -> str:
    lines = [local_times(view)]
    if url:
        lines.append(url)
    return "\n".join(lines)


def google_calendar_url(view: BookingView, *, url: str | None = None) -> str:
    """An "Add to Google Calendar" link for a booking (times in UTC)."""
    dates = f"{_stamp(view.start)}/{_stamp(view.end)}"
    return "https://calendar.google.com/calendar/render?" + _query(
        [
            ("action", "TEMPLATE"),
            ("text", _summary(view, cancelled=False)),
            ("dates", dates),
            ("details", _link_details(view, url)),
            ("location", _location(view)),
        ]
    )


def outlook_calendar_url(view: BookingView, *, url: str | None = None) -> str:
    """An "Add to Outlook.com calendar" compose link for a booking (ISO 8601 UTC times)."""
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + _query(
        [
            ("subject", _summary(view, cancelled=False)),
            ("startdt", view.start.astimezone(_UTC).strftime(iso)),
            ("enddt", view.end.astimezone(_UTC).strftime(iso)),
            ("body", _link_details(view, url)),
            ("location", _location(view)),
            ("path", "/calendar/action/compose"),
            ("rru", "addevent"),
        ]
    )

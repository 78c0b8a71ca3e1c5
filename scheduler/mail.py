"""The e-mails a booking change sends: who gets what, and each message's bytes. Pure.

For one committed change of a booking (its kind, the booking as that change left it, and the
change's instant, as recorded in the outbox's intent) :func:`plan` returns one
:class:`OutgoingMail` per recipient and message, ready for the outbox:

* created: an invitation (iMIP ``METHOD:REQUEST``, RFC 6047) to the organizer and each guest;
* moved, extended, shortened, edited: an update (``REQUEST``, same UID, the raised SEQUENCE) to
  the organizer and each guest, and a cancellation to a guest who was taken off;
* cancelled: a cancellation (``METHOD:CANCEL``, same UID, the raised SEQUENCE) to everyone;
* and, unless cancelled, reminders before the start (the venues' ``reminder_minutes``) to each
  recipient, replacing those of the booking's earlier versions: scheduled with the change,
  composed by :func:`reminder` when each falls due. The organizer's carry a signed one-click
  cancel link (:mod:`scheduler.cancel_links`).

Invitations, updates and cancellations are ``multipart/mixed``: a ``multipart/alternative`` of
plain text, HTML and ``text/calendar; method=…`` (the calendar's own METHOD), then the same
calendar attached as ``invite.ics``. Bodies say every booth with its venue's address and the
time in each booth's city, plus the recipient's own zone when known, in the recipient's language
(English or French). Time zones come through :mod:`scheduler.zones`, the calendar through
:mod:`scheduler.ical`; nothing here reads a clock or does I/O. The same inputs give the same
bytes, Message-IDs included (:func:`message_id`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.charset import BASE64, Charset
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any

from . import bounds, cancel_links, ical, zones
from .changes import ChangeKind
from .model import BookingStatus, BookingView

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"


class MailKind(enum.StrEnum):
    INVITATION = "invitation"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"


@dataclass(frozen=True)
class Sender:
    """The server's From address (``BOOTH_MAIL_FROM``) and display name."""

    address: str
    name: str = "Sebastian"


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    language: str = DEFAULT_LANGUAGE
    #: The recipient's own IANA zone, when their account gives one.
    timezone: str | None = None
    #: The booking's organizer: the one whose reminders carry the cancel link.
    organizer: bool = False


@dataclass(frozen=True)
class OutgoingMail:
    kind: MailKind
    booking_id: int
    sequence: int
    recipient: str
    subject: str
    message_id: str
    #: None: a reminder scheduled by :func:`plan`, composed when it falls due (:func:`reminder`).
    message: bytes | None
    send_after: datetime
    #: Not sent from this instant on (a reminder, once the session has started).
    expires_at: datetime | None = None
    #: A reminder's delay before the start.
    minutes: int | None = None


@dataclass(frozen=True)
class Links:
    """Where the messages point: the server's public origin and the cancel-link secret."""

    origin: str
    secret: bytes


# --------------------------------------------------------------------------- words

_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_MONTHS = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
}  # fmt: skip

_WORDS = {
    "en": {
        MailKind.INVITATION: "Invitation",
        MailKind.UPDATE: "Updated",
        MailKind.CANCELLATION: "Cancelled",
        MailKind.REMINDER: "Reminder",
        "hello": "Hello {name},",
        "booked": "Your booth session is booked.",
        "invited": "{organizer} invites you to a booth session.",
        "updated": "This booth session has changed; the times below are the new ones.",
        "cancelled": "This booth session is cancelled.",
        "uninvited": "You are no longer invited to this booth session.",
        "soon": "This booth session starts in {delay}.",
        "hours": "{n} hours",
        "hour": "1 hour",
        "minutes": "{n} minutes",
        "when": "When",
        "where": "Where",
        "your_time": "Your time ({zone})",
        "is_yours": "your time",
        "organizer": "Organizer",
        "guests": "Guests",
        "cancel": (
            "Cannot come? Cancel the session here (no login needed; the link works once, "
            "until the session starts):"
        ),
        "cancel_button": "Cancel the session",
        "calendar": "Your calendar can add this session from the attached invitation (invite.ics).",
        "footer": "Sebastian · Paris – San Francisco booths",
        "session": "Booth session",
    },
    "fr": {
        MailKind.INVITATION: "Invitation",
        MailKind.UPDATE: "Modification",
        MailKind.CANCELLATION: "Annulation",
        MailKind.REMINDER: "Rappel",
        "hello": "Bonjour {name},",
        "booked": "Votre séance en cabine est réservée.",
        "invited": "{organizer} vous invite à une séance en cabine.",
        "updated": "Cette séance en cabine a changé ; les horaires ci-dessous sont les nouveaux.",
        "cancelled": "Cette séance en cabine est annulée.",
        "uninvited": "Vous n’êtes plus invité·e à cette séance en cabine.",
        "soon": "Cette séance en cabine commence dans {delay}.",
        "hours": "{n} heures",
        "hour": "1 heure",
        "minutes": "{n} minutes",
        "when": "Quand",
        "where": "Où",
        "your_time": "Votre heure ({zone})",
        "is_yours": "votre heure",
        "organizer": "Organisateur",
        "guests": "Invités",
        "cancel": (
            "Vous ne pouvez pas venir ? Annulez la séance ici (sans connexion ; le lien sert une "
            "fois, jusqu’au début de la séance) :"
        ),
        "cancel_button": "Annuler la séance",
        "calendar": "Votre agenda peut ajouter cette séance depuis l’invitation jointe (invite.ics).",
        "footer": "Sebastian · cabines Paris – San Francisco",
        "session": "Séance en cabine",
    },
}


def _language(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _offset(local: datetime) -> str:
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _day(local: datetime, language: str) -> str:
    weekday = _WEEKDAYS[language][local.weekday()]
    month = _MONTHS[language][local.month - 1]
    return f"{weekday} {local.day} {month} {local.year}"


def local_span(start: datetime, end: datetime, tz: str, language: str) -> str:
    """``Tuesday 16 March 2027, 17:00–18:00 (UTC+01:00)`` in ``tz``, in English or French."""
    language = _language(language)
    s, e = zones.to_local(start, tz), zones.to_local(end, tz)
    text = f"{_day(s, language)}, {s:%H:%M}"
    if e.date() != s.date():
        text += f" ({_offset(s)}) – {_day(e, language)}, {e:%H:%M}"
    elif _offset(s) != _offset(e):
        text += f" ({_offset(s)})–{e:%H:%M}"
    else:
        text += f"–{e:%H:%M}"
    return f"{text} ({_offset(e)})"


def _delay(minutes: int, words: Mapping[Any, str]) -> str:
    if minutes == 60:
        return words["hour"]
    if minutes % 60 == 0:
        return words["hours"].format(n=minutes // 60)
    return words["minutes"].format(n=minutes)


# --------------------------------------------------------------------------- bodies


@dataclass(frozen=True)
class _Body:
    """What a message says, before it is written as text or HTML."""

    greeting: str
    lead: str
    title: str
    when: list[tuple[str, str]]
    where: list[tuple[str, str]]
    organizer: str
    guests: str
    cancel_url: str | None
    calendar_note: bool


def _organizer_line(view: BookingView) -> str:
    who = view.organizer_name or view.organizer_email
    if view.organizer_company:
        who += f" ({view.organizer_company})"
    return f"{who} <{view.organizer_email}>"


def _when(view: BookingView, recipient: Recipient, language: str) -> list[tuple[str, str]]:
    words = _WORDS[language]
    rows: list[tuple[str, str]] = []
    zones_shown = set()
    for booth in view.booths:
        tz = booth.venue.timezone
        if tz in zones_shown:
            continue
        zones_shown.add(tz)
        label = booth.venue.city
        if recipient.timezone == tz:
            label += f" ({words['is_yours']})"
        rows.append((label, local_span(view.start, view.end, tz, language)))
    if recipient.timezone and recipient.timezone not in zones_shown:
        label = words["your_time"].format(zone=recipient.timezone)
        rows.append((label, local_span(view.start, view.end, recipient.timezone, language)))
    return rows


def _where(view: BookingView) -> list[tuple[str, str]]:
    return [
        (b.venue.city, ", ".join(part for part in (b.name, b.venue.name, b.venue.address) if part))
        for b in view.booths
    ]


def _body(
    view: BookingView,
    recipient: Recipient,
    lead: str,
    *,
    cancel_url: str | None = None,
    calendar_note: bool = False,
) -> _Body:
    language = _language(recipient.language)
    words = _WORDS[language]
    return _Body(
        greeting=words["hello"].format(name=recipient.name or recipient.email),
        lead=lead,
        title=view.title.strip() or words["session"],
        when=_when(view, recipient, language),
        where=_where(view),
        organizer=_organizer_line(view),
        guests=", ".join(view.guests),
        cancel_url=cancel_url,
        calendar_note=calendar_note,
    )


def _text(body: _Body, language: str) -> str:
    words = _WORDS[language]
    lines = [body.greeting, "", body.lead, "", body.title, "", f"{words['when']}:"]
    lines += [f"  {label}: {value}" for label, value in body.when]
    lines += ["", f"{words['where']}:"]
    lines += [f"  {label}: {value}" for label, value in body.where]
    lines += ["", f"{words['organizer']}: {body.organizer}"]
    if body.guests:
        lines.append(f"{words['guests']}: {body.guests}")
    if body.cancel_url:
        lines += ["", words["cancel"], body.cancel_url]
    if body.calendar_note:
        lines += ["", words["calendar"]]
    lines += ["", "-- ", words["footer"], ""]
    return "\n".join(lines)


def _html(body: _Body, language: str) -> str:
    words = _WORDS[language]
    e = html.escape

    def rows(items: Iterable[tuple[str, str]]) -> str:
        return "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in items)

    parts = [
        f"<!doctype html><html lang='{language}'><head><meta charset='utf-8'>",
        f"<title>{e(body.title)}</title></head><body>",
        f"<p>{e(body.greeting)}</p><p>{e(body.lead)}</p><h1>{e(body.title)}</h1>",
        f"<h2>{e(words['when'])}</h2><table>{rows(body.when)}</table>",
        f"<h2>{e(words['where'])}</h2><table>{rows(body.where)}</table>",
        f"<p>{e(words['organizer'])}: {e(body.organizer)}</p>",
    ]
    if body.guests:
        parts.append(f"<p>{e(words['guests'])}: {e(body.guests)}</p>")
    if body.cancel_url:
        url = e(body.cancel_url, quote=True)
        parts.append(f"<p>{e(words['cancel'])} <a href='{url}'>{e(words['cancel_button'])}</a></p>")
    if body.calendar_note:
        parts.append(f"<p>{e(words['calendar'])}</p>")
    parts.append(f"<hr><p>{e(words['footer'])}</p></body></html>")
    return "".join(parts)


# --------------------------------------------------------------------------- messages


def _subject(kind: MailKind, view: BookingView, language: str, extra: str = "") -> str:
    words = _WORDS[language]
    title = view.title.strip() or words["session"]
    cities = " · ".join(
        f"{zones.to_local(view.start, b.venue.timezone):%H:%M} {b.venue.city}"
        for b in {b.venue.timezone: b for b in view.booths}.values()
    )
    first = zones.to_local(view.start, view.booths[0].venue.timezone)
    date = f"{first.day} {_MONTHS[language][first.month - 1]} {first.year}"
    colon = " : " if language == "fr" else ": "
    return f"{words[kind]}{colon}{title}{extra} ({date}, {cities})"


def message_id(sender: Sender, view: BookingView, kind: MailKind, recipient: str, minutes: int = 0) -> str:
    """The Message-ID of one message, derived from what it is: the booking's UID (unique across
    databases), the version (sequence), the kind, the recipient and a reminder's delay. Composing
    one change again (the sender died before it stored the messages) gives the same IDs, and no
    two messages share one."""
    domain = sender.address.rpartition("@")[2] or "sebastian.invalid"
    key = "\0".join((view.uid, str(view.sequence), kind.value, recipient.lower(), str(minutes)))
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


_CRLF = b"\r\n"
#: RFC 2047 words in base64: the default picks the shorter of base64 and Q by trying both,
#: character by character, which was most of the time of a message.
_UTF8_BASE64 = Charset("utf-8")
_UTF8_BASE64.header_encoding = BASE64


def _header(name: str, value: str) -> bytes:
    """One header line; non-ASCII values as RFC 2047 encoded words, folded."""
    if value.isascii():
        return f"{name}: {value}".encode("ascii") + _CRLF
    encoded = Header(value, _UTF8_BASE64, header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}".encode("ascii") + _CRLF


def _address(name: str, address: str) -> str:
    return formataddr((name, address), charset=_UTF8_BASE64) if name else address


def _qp_part(content_type: str, text: str) -> bytes:
    body = "\r\n".join(text.splitlines()).encode("utf-8") + _CRLF
    head = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    return head.encode("ascii") + binascii.b2a_qp(body, istext=True)


def _base64_part(headers: str, data: bytes) -> bytes:
    lines = base64.encodebytes(data).splitlines()
    return (headers + "Content-Transfer-Encoding: base64\r\n\r\n").encode("ascii") + _CRLF.join(lines) + _CRLF


def _multipart(subtype: str, boundary: str, parts: Sequence[bytes]) -> bytes:
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode("ascii")
    marker = f"--{boundary}\r\n".encode("ascii")
    return head + b"".join(marker + part + _CRLF for part in parts) + f"--{boundary}--\r\n".encode("ascii")


def build_message(
    *,
    sender: Sender,
    recipient: Recipient,
    subject: str,
    text: str,
    html_text: str,
    now: datetime,
    message_id: str,
    calendar: bytes | None = None,
    method: str | None = None,
) -> bytes:
    """The RFC 5322 bytes (CRLF) of one message; with ``calendar``, an iMIP message whose
    ``text/calendar`` part has ``method`` = the calendar's METHOD, and the same bytes attached.

    Written out here rather than by ``email.message.EmailMessage``, whose header registry
    parses every header it is given: it took 10 to 18 ms a message on these machines, and the
    sender composes every message of every change. The parts are encoded by the standard library
    (quoted-printable, base64, RFC 2047 words) into a fixed structure, and the tests read every
    message back with the ``email`` package. Boundaries start with ``=_``, which neither
    encoding can produce, and derive from the Message-ID: the same inputs give the same bytes.
    """
    language = _language(recipient.language)
    token = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    alternatives = [
        _qp_part('text/plain; charset="utf-8"', text),
        _qp_part('text/html; charset="utf-8"', html_text),
    ]
    if calendar is not None:
        if method is None or f"\r\nMETHOD:{method}\r\n".encode() not in calendar:
            raise ValueError(f"the calendar's METHOD is not {method!r}")
        calendar_type = f'text/calendar; charset="utf-8"; method={method}'
        alternatives.append(_qp_part(calendar_type, calendar.decode("utf-8")))
    body = _multipart("alternative", f"=_alt_{token}", alternatives)
    if calendar is not None:
        attached = _base64_part(
            'Content-Type: application/ics; name="invite.ics"\r\n'
            'Content-Disposition: attachment; filename="invite.ics"\r\n',
            calendar,
        )
        body = _multipart("mixed", f"=_mix_{token}", [body, attached])
    head = b"".join(
        (
            _header("From", _address(sender.name, sender.address)),
            _header("To", _address(recipient.name, recipient.email)),
            _header("Subject", subject),
            _header("Date", format_datetime(now)),
            _header("Message-ID", message_id),
            _header("Auto-Submitted", "auto-generated"),  # RFC 3834: no vacation auto-replies
            _header("Content-Language", language),
            b"MIME-Version: 1.0\r\n",
        )
    )
    return head + body


def _compose(
    kind: MailKind,
    view: BookingView,
    recipient: Recipient,
    sender: Sender,
    body: _Body,
    *,
    now: datetime,
    method: str | None = None,
    expires_at: datetime | None = None,
    minutes: int = 0,
) -> OutgoingMail:
    """One message to one recipient, sent from ``now`` on; with ``method``, an iMIP message;
    ``minutes``: a reminder's delay before the start (part of its Message-ID)."""
    language = _language(recipient.language)
    subject = _subject(kind, view, language)
    mail_id = message_id(sender, view, kind, recipient.email, minutes)
    calendar = None
    if method is not None:
        calendar = ical.booking_ics(view, method=method, mailer=(sender.name, sender.address))
    raw = build_message(
        sender=sender,
        recipient=recipient,
        subject=subject,
        text=_text(body, language),
        html_text=_html(body, language),
        now=now,
        message_id=mail_id,
        calendar=calendar,
        method=method,
    )
    return OutgoingMail(
        kind,
        view.id,
        view.sequence,
        recipient.email,
        subject,
        mail_id,
        raw,
        now,
        expires_at,
        minutes if kind is MailKind.REMINDER else None,
    )


def _itip(
    kind: MailKind, view: BookingView, recipient: Recipient, sender: Sender, now: datetime, lead_key: str
) -> OutgoingMail:
    words = _WORDS[_language(recipient.language)]
    method = "CANCEL" if kind is MailKind.CANCELLATION else "REQUEST"
    lead = words[lead_key].format(organizer=view.organizer_name or view.organizer_email)
    body = _body(view, recipient, lead, calendar_note=method == "REQUEST")
    return _compose(kind, view, recipient, sender, body, now=now, method=method)


def reminder_minutes(view: BookingView) -> tuple[int, ...]:
    """The reminders of a booking, in minutes before its start: those of all its venues."""
    found = {m for b in view.booths for m in b.venue.rules.reminder_minutes if m > 0}
    return tuple(sorted(found, reverse=True))


def cancel_url(view: BookingView, links: Links, language: str) -> str:
    token = cancel_links.sign(links.secret, view.id, view.sequence, view.start)
    return f"{links.origin.rstrip('/')}/cancel?token={token}&lang={_language(language)}"


def reminders(
    view: BookingView, recipients: Sequence[Recipient], sender: Sender, now: datetime
) -> list[OutgoingMail]:
    """The reminders of a confirmed booking still ahead of ``now``, one per recipient and delay,
    scheduled: subject and Message-ID now, the bytes when each falls due (:func:`reminder`).
    Most reminders of a booking that changes are superseded before their time; composing them
    with the change was two thirds of its mail work."""
    out = []
    for minutes in reminder_minutes(view):
        at = view.start - timedelta(minutes=minutes)
        if at <= now:
            continue
        for recipient in recipients:
            subject = _subject(MailKind.REMINDER, view, _language(recipient.language))
            mail_id = message_id(sender, view, MailKind.REMINDER, recipient.email, minutes)
            out.append(
                OutgoingMail(
                    MailKind.REMINDER,
                    view.id,
                    view.sequence,
                    recipient.email,
                    subject,
                    mail_id,
                    None,
                    at,
                    view.start,
                    minutes,
                )
            )
    return out


def reminder(
    view: BookingView, recipient: Recipient, minutes: int, sender: Sender, links: Links
) -> OutgoingMail:
    """The reminder ``minutes`` before the start of ``view`` (the booking at the reminder's
    sequence), composed: the same Message-ID as scheduled by :func:`reminders`, dated at its
    time. The organizer's carries the one-click cancel link for that sequence."""
    language = _language(recipient.language)
    words = _WORDS[language]
    lead = words["soon"].format(delay=_delay(minutes, words))
    url = cancel_url(view, links, language) if recipient.organizer else None
    body = _body(view, recipient, lead, cancel_url=url)
    at = view.start - timedelta(minutes=minutes)
    return _compose(
        MailKind.REMINDER, view, recipient, sender, body, now=at, expires_at=view.start, minutes=minutes
    )


def guest_addresses(view: BookingView | None) -> list[str]:
    """The guests' addresses, lower case, without the organizer's. An address stored before
    text was checked (a lone surrogate, a control) is left out: no server can deliver to it,
    and it must not stop the change that repairs it."""
    if view is None:
        return []
    organizer = view.organizer_email.lower()
    # Lower case before removing repeats: one Message-ID per recipient and message.
    return [
        g
        for g in dict.fromkeys(g.lower() for g in view.guests)
        if g != organizer and bounds.text_problem(g) is None
    ]


def plan(
    change: ChangeKind,
    view: BookingView,
    now: datetime,
    recipients: Sequence[Recipient],
    removed: Sequence[Recipient],
    sender: Sender,
    *,
    with_reminders: bool = True,
) -> list[OutgoingMail]:
    """Every message of one committed change of kind ``change``, made at ``now``, that left the
    booking as ``view``. ``recipients``: the organizer and the guests of the booking as changed;
    ``removed``: guests of the version before who are no longer invited. Reminders are
    scheduled, not composed (:func:`reminders`); ``with_reminders``: False when a later change
    of the booking exists already (its own reminders replace these)."""
    if change is ChangeKind.CANCELLED or view.status is BookingStatus.CANCELLED:
        return [_itip(MailKind.CANCELLATION, view, r, sender, now, "cancelled") for r in recipients]
    if change is ChangeKind.CREATED:
        mails = [
            _itip(MailKind.INVITATION, view, r, sender, now, "booked" if r.organizer else "invited")
            for r in recipients
        ]
    else:
        mails = [_itip(MailKind.UPDATE, view, r, sender, now, "updated") for r in recipients]
        mails += [_itip(MailKind.CANCELLATION, view, r, sender, now, "uninvited") for r in removed]
    return mails + (reminders(view, recipients, sender, now) if with_reminders else [])

"""The pure parts of mail: local times in two languages, reminders by venue rule, cancel links."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from scheduler import cancel_links
from scheduler.changes import BookingChanged, ChangeKind
from scheduler.mail import Links, MailKind, Recipient, Sender, local_span, plan, reminder_minutes
from scheduler.model import BookingStatus, BookingView, Rules
from tests.scheduler.factories import CANTINE_A, PARIS, SF, SF_A, paris_venue, sf_venue, utc, with_venue

SECRET = b"0123456789abcdef0123456789abcdef"
SENDER = Sender("booths@sebastian.example")
LINKS = Links("https://booths.example", SECRET)


def view(start: datetime, *, booths: tuple = (CANTINE_A, SF_A), guests: tuple[str, ...] = (), sequence: int = 0,
         status: BookingStatus = BookingStatus.CONFIRMED) -> BookingView:  # fmt: skip
    return BookingView(
        id=7,
        uid="u-7@sebastian",
        title="Pitch",
        status=status,
        start=start,
        end=start + timedelta(hours=1),
        sequence=sequence,
        created_at=utc(2027, 3, 1, 12),
        updated_at=utc(2027, 3, 1, 12),
        organizer_name="Ada",
        organizer_email="ada@example.org",
        organizer_company="",
        guests=guests,
        booths=booths,
        organizer_id=1,
    )


@pytest.mark.parametrize(
    ("start", "tz", "language", "expected"),
    [
        # 8-hour week: Paris on winter time, San Francisco already on summer time.
        (utc(2027, 3, 16, 16), "Europe/Paris", "en", "Tuesday 16 March 2027, 17:00–18:00 (UTC+01:00)"),
        (utc(2027, 3, 16, 16), "America/Los_Angeles", "fr", "mardi 16 mars 2027, 09:00–10:00 (UTC−07:00)"),
        # 9 hours again once Paris changes on 28 March.
        (utc(2027, 3, 30, 15), "Europe/Paris", "fr", "mardi 30 mars 2027, 17:00–18:00 (UTC+02:00)"),
        (utc(2027, 3, 30, 15), "America/Los_Angeles", "en", "Tuesday 30 March 2027, 08:00–09:00 (UTC−07:00)"),
        # Across the Paris change itself (01:00 UTC, 28 March 2027): both offsets are said.
        (utc(2027, 3, 28, 0, 30), "Europe/Paris", "en", "Sunday 28 March 2027, 01:30 (UTC+01:00)–03:30 (UTC+02:00)"),
        # Past midnight: the end's day is said.
        (utc(2027, 3, 16, 23, 30), "Europe/Paris", "fr", "mercredi 17 mars 2027, 00:30–01:30 (UTC+01:00)"),
        (utc(2027, 3, 16, 22, 30), "Europe/Paris", "en",
         "Tuesday 16 March 2027, 23:30 (UTC+01:00) – Wednesday 17 March 2027, 00:30 (UTC+01:00)"),
    ],
)  # fmt: skip
def test_local_span(start: datetime, tz: str, language: str, expected: str) -> None:
    assert local_span(start, start + timedelta(hours=1), tz, language) == expected


def test_reminders_are_those_of_every_venue_of_the_booking() -> None:
    paris = with_venue(CANTINE_A, paris_venue(rules=Rules(reminder_minutes=(120, 1440))))
    sf = with_venue(SF_A, sf_venue(rules=Rules(reminder_minutes=())))
    assert reminder_minutes(view(utc(2027, 3, 16, 16), booths=(paris, SF_A))) == (1440, 120, 60)
    assert reminder_minutes(view(utc(2027, 3, 16, 16), booths=(paris, sf))) == (1440, 120)
    silent = with_venue(CANTINE_A, paris_venue(rules=Rules(reminder_minutes=())))
    assert reminder_minutes(view(utc(2027, 3, 16, 16), booths=(silent, sf))) == ()
    assert PARIS.rules.reminder_minutes == (1440, 60) and SF.rules.reminder_minutes == (1440, 60)


def test_plan_of_each_change() -> None:
    now = utc(2027, 3, 16, 10)  # six hours before: the day-before reminder is past already
    organizer = Recipient("ada@example.org", "Ada", organizer=True)
    grace, bob = Recipient("grace@example.org", "Grace"), Recipient("bob@example.org", "Bob")
    booked = view(utc(2027, 3, 16, 16), guests=("grace@example.org",))
    created = plan(
        BookingChanged(ChangeKind.CREATED, booked, None, 1, now), [organizer, grace], [], SENDER, LINKS
    )
    assert [(m.kind, m.recipient, m.send_after) for m in created] == [
        (MailKind.INVITATION, "ada@example.org", now),
        (MailKind.INVITATION, "grace@example.org", now),
        (MailKind.REMINDER, "ada@example.org", utc(2027, 3, 16, 15)),
        (MailKind.REMINDER, "grace@example.org", utc(2027, 3, 16, 15)),
    ]
    assert all(m.expires_at == booked.start for m in created if m.kind is MailKind.REMINDER)
    edited = view(utc(2027, 3, 16, 16), guests=("bob@example.org",), sequence=1)
    event = BookingChanged(ChangeKind.EDITED, edited, booked, 1, now)
    changed = plan(event, [organizer, bob], [grace], SENDER, LINKS)
    assert [(m.kind, m.recipient, m.sequence) for m in changed[:3]] == [
        (MailKind.UPDATE, "ada@example.org", 1),
        (MailKind.UPDATE, "bob@example.org", 1),
        (MailKind.CANCELLATION, "grace@example.org", 1),  # taken off the guest list
    ]
    cancelled = view(utc(2027, 3, 16, 16), sequence=2, status=BookingStatus.CANCELLED)
    gone = plan(
        BookingChanged(ChangeKind.CANCELLED, cancelled, edited, 1, now), [organizer, bob], [], SENDER, LINKS
    )
    assert [(m.kind, m.recipient) for m in gone] == [
        (MailKind.CANCELLATION, "ada@example.org"),
        (MailKind.CANCELLATION, "bob@example.org"),
    ]  # no reminder for a cancelled session
    assert b"\r\nMETHOD:CANCEL\r\n" in gone[0].message and b"; method=CANCEL\r\n" in gone[0].message
    assert len({m.message_id for m in created + changed + gone}) == len(created + changed + gone)


def test_cancel_links() -> None:
    start = utc(2027, 3, 16, 16)
    token = cancel_links.sign(SECRET, 7, 3, start)
    before = start - timedelta(seconds=1)
    assert cancel_links.verify(SECRET, token, before) == cancel_links.CancelLink(7, 3, start)
    for bad in (
        token.replace(".3.", ".4.", 1),  # another sequence, same signature
        token.replace("7.", "8.", 1),  # another booking
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "7.3",
        "",
        token + "x",
    ):
        with pytest.raises(cancel_links.LinkError) as refused:
            cancel_links.verify(SECRET, bad, before)
        assert refused.value.reason == "invalid"
    with pytest.raises(cancel_links.LinkError) as other_key:
        cancel_links.verify(b"another secret, another server!!", token, before)
    assert other_key.value.reason == "invalid"
    with pytest.raises(cancel_links.LinkError) as late:
        cancel_links.verify(SECRET, token, start)
    assert late.value.reason == "expired"

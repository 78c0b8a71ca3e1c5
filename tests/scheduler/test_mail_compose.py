"""The pure parts of mail: local times in two languages, reminders by venue rule, cancel links."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from scheduler import cancel_links
from scheduler.changes import ChangeKind
from scheduler.mail import Links, MailKind, Recipient, Sender, local_span, plan, reminder, reminder_minutes
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
    created = plan(ChangeKind.CREATED, booked, now, [organizer, grace], [], SENDER)
    assert [(m.kind, m.recipient, m.send_after) for m in created] == [
        (MailKind.INVITATION, "ada@example.org", now),
        (MailKind.INVITATION, "grace@example.org", now),
        (MailKind.REMINDER, "ada@example.org", utc(2027, 3, 16, 15)),
        (MailKind.REMINDER, "grace@example.org", utc(2027, 3, 16, 15)),
    ]
    assert all(m.expires_at == booked.start for m in created if m.kind is MailKind.REMINDER)
    edited = view(utc(2027, 3, 16, 16), guests=("bob@example.org",), sequence=1)
    changed = plan(ChangeKind.EDITED, edited, now, [organizer, bob], [grace], SENDER)
    assert [(m.kind, m.recipient, m.sequence) for m in changed[:3]] == [
        (MailKind.UPDATE, "ada@example.org", 1),
        (MailKind.UPDATE, "bob@example.org", 1),
        (MailKind.CANCELLATION, "grace@example.org", 1),  # taken off the guest list
    ]
    cancelled = view(utc(2027, 3, 16, 16), sequence=2, status=BookingStatus.CANCELLED)
    gone = plan(ChangeKind.CANCELLED, cancelled, now, [organizer, bob], [], SENDER)
    assert [(m.kind, m.recipient) for m in gone] == [
        (MailKind.CANCELLATION, "ada@example.org"),
        (MailKind.CANCELLATION, "bob@example.org"),
    ]  # no reminder for a cancelled session
    assert gone[0].message is not None
    assert b"\r\nMETHOD:CANCEL\r\n" in gone[0].message and b"; method=CANCEL\r\n" in gone[0].message
    assert len({m.message_id for m in created + changed + gone}) == len(created + changed + gone)


def test_composing_again_gives_the_same_message_ids_and_bytes() -> None:
    """At least once: a change composed twice (the sender died before storing its messages)
    yields the same Message-IDs, so a copy sent twice is recognised as one message."""
    now = utc(2027, 3, 14, 10)
    organizer = Recipient("ada@example.org", "Ada", organizer=True)
    grace = Recipient("grace@example.org", "Grace", language="fr")
    booked = view(utc(2027, 3, 16, 16), guests=("grace@example.org",))
    first = plan(ChangeKind.CREATED, booked, now, [organizer, grace], [], SENDER)
    again = plan(ChangeKind.CREATED, booked, now, [organizer, grace], [], SENDER)
    assert first == again
    # The next version of the same booking: other Message-IDs for every message.
    moved = replace(booked, start=utc(2027, 3, 17, 16), end=utc(2027, 3, 17, 17), sequence=1)
    update = plan(ChangeKind.MOVED, moved, now, [organizer, grace], [], SENDER)
    assert not {m.message_id for m in first} & {m.message_id for m in update}
    # Another booking (another UID) with the same id, sequence and recipients: other IDs too.
    other = plan(
        ChangeKind.CREATED, replace(booked, uid="u-8@sebastian"), now, [organizer, grace], [], SENDER
    )
    assert not {m.message_id for m in first} & {m.message_id for m in other}


def test_reminders_are_scheduled_with_the_change_and_composed_when_due() -> None:
    now = utc(2027, 3, 14, 10)
    organizer = Recipient("ada@example.org", "Ada", organizer=True)
    grace = Recipient("grace@example.org", "Grace", language="fr")
    booked = view(utc(2027, 3, 16, 16), guests=("grace@example.org",))
    scheduled = [
        m for m in plan(ChangeKind.CREATED, booked, now, [organizer, grace], [], SENDER) if m.message is None
    ]
    assert [(m.kind, m.recipient, m.minutes, m.send_after) for m in scheduled] == [
        (MailKind.REMINDER, "ada@example.org", 1440, utc(2027, 3, 15, 16)),
        (MailKind.REMINDER, "grace@example.org", 1440, utc(2027, 3, 15, 16)),
        (MailKind.REMINDER, "ada@example.org", 60, utc(2027, 3, 16, 15)),
        (MailKind.REMINDER, "grace@example.org", 60, utc(2027, 3, 16, 15)),
    ]
    for planned, recipient in zip(scheduled, [organizer, grace, organizer, grace], strict=True):
        assert planned.minutes is not None
        composed = reminder(booked, recipient, planned.minutes, SENDER, LINKS)
        assert (composed.message_id, composed.subject, composed.send_after, composed.expires_at) == (
            planned.message_id,
            planned.subject,
            planned.send_after,
            booked.start,
        )
        assert composed.message is not None
        assert (b"/cancel?token=" in composed.message) is recipient.organizer
    assert scheduled[1].subject.startswith("Rappel : Pitch")


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

"""The mail outbox and mail settings in the database: rows in, domain values out.

A booking change writes one **intent** (:meth:`Outbox.write_intent`) inside its own transaction:
the booking as that change left it, the kind of change and its instant. A change that rolls back
leaves none; a committed change always has its intent. The sender task claims intents
(:meth:`Outbox.claim_intents`), composes their messages (``scheduler.mail.plan``: recipients,
bodies, calendars, reminders, Message-IDs derived from what each message is) and stores them
with the intent marked ``composed`` in one transaction (:meth:`Outbox.write`). A sender that dies
before that commit leaves the intent due: it is composed again, into the same Message-IDs.
Intents of one booking are composed one at a time, in the order of its changes, so an update
followed at once by a cancellation is mailed in that order with those sequences.

Messages are then taken in batches of up to :data:`CLAIM_BATCH` by :meth:`Outbox.claim`:

* PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` in a transaction that stays open while the
  message is sent and is committed with its outcome. Another node skips the locked row, so two
  nodes never send one message at once; if the sending process dies, the database drops its
  connection, the locks and the uncommitted outcomes, and the messages are due again at once.
* SQLite (one server process, one writer): the claim marks the row ``sending`` in one short
  write, the message is sent outside any transaction (the writer is never held during SMTP),
  and a second write stores the outcome. A process that died leaves ``sending`` rows, which
  :meth:`Outbox.release_claims` puts back when the next process starts.

Intents are claimed the same way on PostgreSQL; on SQLite they are read, composed, and stored in
one write with the intent marked ``composed`` only if it is still pending. Either way a crash
between the SMTP server's acceptance and the stored outcome sends the messages of that batch
again, with the same bytes and ``Message-ID``: at least once. A message waits while an earlier
message of the same booking to the same recipient is due and unsent, so two nodes never send a
cancellation before the update it follows; a reminder of a version the booking has left is
``superseded`` when it falls due, even before the change's own intent is composed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from .changes import BookingChanged, ChangeKind
from .database import Database
from .mail import DEFAULT_LANGUAGE, OutgoingMail, guest_addresses
from .model import BookingStatus, BookingView, Booth
from .tables import AccountRow, BookingRow, BoothHoldRow, BoothRow, MailIntentRow, MailSettingsRow, OutboxRow

STATUSES = ("pending", "sending", "sent", "failed", "superseded", "skipped", "expired")
INTENT_STATUSES = ("pending", "composed", "failed")
#: Messages claimed at once: one claim and one outcome write for them all. A sender that dies
#: mid-batch sends again those of its batch it had sent (at least once).
CLAIM_BATCH = 20
MAX_ERROR = 1000
#: Uncomposed changes listed at most: normally none, as a change is composed within milliseconds.
MAX_CHANGES = 200


@dataclass(frozen=True)
class MailSettings:
    language: str = DEFAULT_LANGUAGE
    #: The account's own IANA zone, shown in its messages beside the booths' cities.
    timezone: str | None = None
    reminders: bool = True


@dataclass(frozen=True)
class Addressee:
    """An address that belongs to an account, with that account's settings."""

    account_id: int
    email: str
    name: str
    settings: MailSettings


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    message_id: str
    booking_id: int
    sequence: int
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    send_after: datetime
    expires_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass
class ClaimedMail:
    """A message the sender holds; it records the outcome, the outbox stores it."""

    id: int
    message_id: str
    recipient: str
    #: None: a reminder to compose now (:meth:`composed`), of ``booking_id`` at ``sequence``.
    message: bytes | None
    attempts: int
    booking_id: int = 0
    sequence: int = 0
    minutes: int | None = None
    status: str = field(default="sending", init=False)
    error: str | None = field(default=None, init=False)
    at: datetime | None = field(default=None, init=False)
    subject: str | None = field(default=None, init=False)
    composed_now: bool = field(default=False, init=False)

    def composed(self, mail: OutgoingMail) -> None:
        """The bytes of a reminder composed as it falls due: stored with the outcome, so a
        retry sends these very bytes."""
        self.message, self.subject, self.composed_now = mail.message, mail.subject, True

    def sent(self, now: datetime) -> None:
        self.status, self.at, self.error = "sent", now, None

    def retry(self, error: str, at: datetime) -> None:
        self.status, self.at, self.error = "pending", at, error[:MAX_ERROR]

    def failed(self, error: str) -> None:
        self.status, self.at, self.error = "failed", None, error[:MAX_ERROR]


def booking_record(event: BookingChanged) -> dict[str, Any]:
    """What an intent keeps of the booking as the change left it: enough to compose its
    messages later exactly as they would have been composed in the change's transaction."""
    view = event.booking
    before = guest_addresses(event.before)
    guests = set(guest_addresses(view))
    return {
        "uid": view.uid,
        "title": view.title,
        "status": view.status.value,
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
        "organizer_id": view.organizer_id,
        "organizer_name": view.organizer_name,
        "organizer_email": view.organizer_email,
        "organizer_company": view.organizer_company,
        "guests": list(view.guests),
        "booths": [b.id for b in view.booths],
        "override_reason": view.override_reason,
        # Guests of the version before who are no longer invited: they get a cancellation.
        "uninvited": [g for g in before if g not in guests],
    }


@dataclass(frozen=True)
class Intent:
    """One committed booking change whose messages are to be composed."""

    id: int
    booking_id: int
    sequence: int
    change: ChangeKind
    changed_at: datetime
    booking: Mapping[str, Any]
    attempts: int

    def view(self, catalog: Mapping[int, Booth]) -> BookingView:
        """The booking as this change left it; its booths (and their venues: addresses,
        reminder rules) as they are now."""
        b = self.booking
        return BookingView(
            id=self.booking_id,
            uid=b["uid"],
            title=b["title"],
            status=BookingStatus(b["status"]),
            start=datetime.fromisoformat(b["start"]),
            end=datetime.fromisoformat(b["end"]),
            sequence=self.sequence,
            created_at=datetime.fromisoformat(b["created_at"]),
            updated_at=datetime.fromisoformat(b["updated_at"]),
            organizer_name=b["organizer_name"],
            organizer_email=b["organizer_email"],
            organizer_company=b["organizer_company"],
            guests=tuple(b["guests"]),
            booths=tuple(catalog[booth_id] for booth_id in b["booths"]),
            organizer_id=b["organizer_id"],
            override_reason=b["override_reason"],
        )

    @property
    def uninvited(self) -> tuple[str, ...]:
        return tuple(self.booking["uninvited"])


@dataclass
class ClaimedIntent:
    """An intent the sender holds; it composes the messages or records why it could not."""

    intent: Intent
    #: No later change of the booking exists yet: this change's reminders are written (a later
    #: change writes its own, and a cancellation none).
    latest: bool
    status: str = field(default="claimed", init=False)
    mails: list[OutgoingMail] = field(default_factory=list, init=False)
    error: str | None = field(default=None, init=False)
    at: datetime | None = field(default=None, init=False)

    def composed(self, mails: Sequence[OutgoingMail]) -> None:
        self.status, self.mails, self.error = "composed", list(mails), None

    def retry(self, error: str, at: datetime) -> None:
        self.status, self.at, self.error = "pending", at, error[:MAX_ERROR]

    def failed(self, error: str) -> None:
        self.status, self.at, self.error = "failed", None, error[:MAX_ERROR]


@dataclass(frozen=True)
class IntentEntry:
    """A booking change not composed yet (or that could not be), for the staff's outbox view."""

    id: int
    booking_id: int
    sequence: int
    change: str
    changed_at: datetime
    status: str
    attempts: int
    due_at: datetime
    last_error: str | None


_INSERT_INTENT = insert(MailIntentRow)
_EARLIER_INTENT = aliased(MailIntentRow, name="earlier")
#: Due intents, oldest first; an intent waits while an earlier one of its booking is not
#: composed (on PostgreSQL another node may hold it). Built once, as below.
_DUE_INTENTS = (
    select(MailIntentRow)
    .where(
        MailIntentRow.status == "pending",
        MailIntentRow.due_at <= bindparam("now"),
        ~select(_EARLIER_INTENT.id)
        .where(
            _EARLIER_INTENT.booking_id == MailIntentRow.booking_id,
            _EARLIER_INTENT.sequence < MailIntentRow.sequence,
            _EARLIER_INTENT.status == "pending",
        )
        .exists(),
    )
    .order_by(MailIntentRow.id)
    .limit(bindparam("limit"))
)
_EARLIER = aliased(OutboxRow, name="earlier")
#: Due messages, oldest first. A message waits while an earlier one of its booking to the same
#: recipient is due and unsent: on PostgreSQL one another node holds is still "pending" here, so
#: the recipient gets the update before the cancellation that follows. A first version
#: (sequence 0) has nothing before it, so the lookup is skipped. Built once: building it for each
#: claim (an alias of the table, a subquery) cost more than running it: half the sender's time
#: on PostgreSQL (bench/bench_mail.py).
_DUE_MESSAGES = (
    select(OutboxRow)
    .where(OutboxRow.status == "pending", OutboxRow.send_after <= bindparam("now"))
    .where(
        or_(
            OutboxRow.sequence == 0,
            ~select(_EARLIER.id)
            .where(
                _EARLIER.booking_id == OutboxRow.booking_id,
                _EARLIER.recipient == OutboxRow.recipient,
                _EARLIER.sequence < OutboxRow.sequence,
                or_(
                    and_(_EARLIER.status == "pending", _EARLIER.send_after <= bindparam("now")),
                    _EARLIER.status == "sending",
                ),
            )
            .exists(),
        )
    )
    .order_by(OutboxRow.send_after, OutboxRow.id)
    .limit(bindparam("limit"))
)


def _narrowed(
    query: Any,
    table: type[OutboxRow] | type[MailIntentRow],
    venue_id: int | None,
    booking_id: int | None,
    status: str | None,
) -> Any:
    """``query`` of ``table`` narrowed to the bookings holding one of a venue's booths, to one
    booking, to one status (each when given)."""
    if venue_id is not None:
        held = (
            select(BoothHoldRow.booking_id)
            .join(BoothRow, BoothRow.id == BoothHoldRow.booth_id)
            .where(BoothRow.venue_id == venue_id)
        )
        query = query.where(table.booking_id.in_(held))
    if booking_id is not None:
        query = query.where(table.booking_id == booking_id)
    if status is not None:
        query = query.where(table.status == status)
    return query


def _settings(row: MailSettingsRow | None) -> MailSettings:
    if row is None:
        return MailSettings()
    return MailSettings(row.language, row.timezone, row.reminders)


def _entry(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        row.id,
        row.message_id,
        row.booking_id,
        row.sequence,
        row.kind,
        row.recipient,
        row.subject,
        row.status,
        row.attempts,
        row.send_after,
        row.expires_at,
        row.last_error,
        row.created_at,
        row.sent_at,
    )


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- inside a booking change's transaction ----------------------------------------------

    @staticmethod
    async def write_intent(session: AsyncSession, event: BookingChanged) -> None:
        """Record ``event`` for the sender to compose: one small row, all a booking change's
        transaction writes for mail (composing six messages in it made a booking 1.24 times
        slower; bench/bench_mail.py)."""
        # On the session's connection, a statement built once: Session.execute would build an
        # ORM statement and autoflush first, which was more than half of this row's cost.
        connection = await session.connection()
        await connection.execute(
            _INSERT_INTENT,
            {
                "booking_id": event.booking.id,
                "sequence": event.booking.sequence,
                "change": event.kind.value,
                "changed_at": event.at,
                "booking": booking_record(event),
                "status": "pending",
                "attempts": 0,
                "due_at": event.at,
            },
        )

    # -- composing ----------------------------------------------------------------------------

    @staticmethod
    async def addressees(session: AsyncSession, emails: Iterable[str]) -> dict[str, Addressee]:
        """The accounts among ``emails`` (lower case), with their mail settings."""
        wanted = sorted({e.lower() for e in emails})
        if not wanted:
            return {}
        rows = await session.execute(
            select(AccountRow.id, AccountRow.email, AccountRow.name, MailSettingsRow)
            .outerjoin(MailSettingsRow, MailSettingsRow.account_id == AccountRow.id)
            .where(func.lower(AccountRow.email).in_(wanted))
        )
        return {
            email.lower(): Addressee(account_id, email.lower(), name, _settings(settings))
            for account_id, email, name, settings in rows
        }

    async def addressees_now(self, emails: Iterable[str]) -> dict[str, Addressee]:
        async with self.db.read() as session:
            return await self.addressees(session, emails)

    @staticmethod
    async def write(
        session: AsyncSession,
        mails: Sequence[OutgoingMail],
        now: datetime,
        *,
        replace_reminders_of: tuple[int, int] | None,
    ) -> None:
        """Queue ``mails``; with ``replace_reminders_of`` (booking id, sequence), that booking's
        reminders still pending from versions before that sequence are superseded first (they
        speak of a version that no longer exists)."""
        if replace_reminders_of is not None:
            booking_id, sequence = replace_reminders_of
            await session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.booking_id == booking_id,
                    OutboxRow.sequence < sequence,
                    OutboxRow.kind == "reminder",
                    OutboxRow.status == "pending",
                )
                .values(status="superseded")
            )
        if not mails:
            return
        # A Core executemany: the ORM's unit of work cost twice as much for these rows.
        await session.execute(
            insert(OutboxRow),
            [
                {
                    "message_id": mail.message_id,
                    "booking_id": mail.booking_id,
                    "sequence": mail.sequence,
                    "kind": mail.kind.value,
                    "recipient": mail.recipient,
                    "subject": mail.subject[:500],
                    "message": mail.message,
                    "status": "pending",
                    "attempts": 0,
                    "send_after": mail.send_after,
                    "expires_at": mail.expires_at,
                    "minutes": mail.minutes,
                    "created_at": now,
                }
                for mail in mails
            ],
        )

    async def _locked(self, session: AsyncSession, query: Any) -> list[Any]:
        """The rows of ``query``; on PostgreSQL locked, skipping those another node holds."""
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        return list(await session.scalars(query))

    async def _take_intents(self, session: AsyncSession, now: datetime, limit: int) -> list[ClaimedIntent]:
        """Up to ``limit`` due intents, locked, oldest first; an intent waits while an earlier
        one of its booking is not composed (on PostgreSQL another node may hold it)."""
        query = _DUE_INTENTS.params(now=now, limit=limit)
        rows = await self._locked(session, query)
        if not rows:
            return []
        current = await self._versions(session, {row.booking_id for row in rows})
        return [
            ClaimedIntent(
                Intent(
                    row.id,
                    row.booking_id,
                    row.sequence,
                    ChangeKind(row.change),
                    row.changed_at,
                    row.booking,
                    row.attempts,
                ),
                latest=current.get(row.booking_id) == row.sequence,
            )
            for row in rows
        ]

    async def _store_intents(
        self, session: AsyncSession, batch: Sequence[ClaimedIntent], now: datetime
    ) -> None:
        """Store each tried intent's outcome and, when composed, its messages. The intent row
        changes only if it is still as claimed (pending, same attempts): if anything else stored
        it meanwhile, this composition is dropped rather than stored twice."""
        for claimed in batch:
            intent = claimed.intent
            if claimed.status == "claimed":  # not tried: due again as it was
                continue
            values: dict[str, Any] = {"status": claimed.status, "attempts": intent.attempts + 1}
            values["last_error"] = claimed.error
            if claimed.at is not None:
                values["due_at"] = claimed.at
            result = await session.execute(
                update(MailIntentRow)
                .where(
                    MailIntentRow.id == intent.id,
                    MailIntentRow.status == "pending",
                    MailIntentRow.attempts == intent.attempts,
                )
                .values(**values)
            )
            if claimed.status == "composed" and result.rowcount == 1:  # type: ignore[attr-defined]
                replace = (
                    None if intent.change is ChangeKind.CREATED else (intent.booking_id, intent.sequence)
                )
                await self.write(session, claimed.mails, now, replace_reminders_of=replace)

    @asynccontextmanager
    async def claim_intents(
        self, now: datetime, limit: int = CLAIM_BATCH
    ) -> AsyncIterator[list[ClaimedIntent]]:
        """Hold up to ``limit`` due intents while the caller composes them; the messages and
        outcomes are stored when the block ends, in one transaction, unless the block raises.

        On PostgreSQL the intents stay locked (``FOR UPDATE SKIP LOCKED``) until then, so no two
        nodes compose one, and a process that dies meanwhile leaves them due. On SQLite (one
        server process, one sender) they are read without a claim and composed outside any
        transaction: only the one write that stores them takes the single writer, and a process
        that dies before it leaves them due."""
        if not self.db.is_sqlite:
            async with self.db.write() as session:
                batch = await self._take_intents(session, now, limit)
                yield batch
                await self._store_intents(session, batch, now)
            return
        async with self.db.read() as session:
            batch = await self._take_intents(session, now, limit)
        yield batch
        if batch:
            async with self.db.write() as session:
                await self._store_intents(session, batch, now)

    async def _take(self, session: AsyncSession, now: datetime, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` due messages, locked; reminders too late, of a version the booking
        has left, or refused are settled on the way (and not returned)."""
        while True:
            query = _DUE_MESSAGES.params(now=now, limit=limit)
            rows = await self._locked(session, query)
            if not rows:
                return []
            reminders = [r for r in rows if r.kind == "reminder"]
            refused = await self._refusing_reminders(session, {r.recipient for r in reminders})
            versions = await self._versions(session, {r.booking_id for r in reminders})
            kept = []
            for row in rows:
                if row.expires_at is not None and row.expires_at <= now:
                    row.status = "expired"
                elif row.kind == "reminder" and versions.get(row.booking_id, row.sequence) != row.sequence:
                    row.status = "superseded"  # the booking changed; its intent may not be composed yet
                elif row.kind == "reminder" and row.recipient.lower() in refused:
                    row.status = "skipped"
                else:
                    kept.append(row)
            if kept:
                return kept
            await session.flush()

    @staticmethod
    async def _versions(session: AsyncSession, booking_ids: set[int]) -> dict[int, int]:
        """The current sequence of each booking."""
        if not booking_ids:
            return {}
        rows = await session.execute(
            select(BookingRow.id, BookingRow.sequence).where(BookingRow.id.in_(sorted(booking_ids)))
        )
        return {booking_id: sequence for booking_id, sequence in rows}

    @staticmethod
    async def _refusing_reminders(session: AsyncSession, emails: set[str]) -> set[str]:
        """Those of ``emails`` whose account turned reminders off."""
        if not emails:
            return set()
        found = await session.scalars(
            select(func.lower(AccountRow.email))
            .join(MailSettingsRow, MailSettingsRow.account_id == AccountRow.id)
            .where(func.lower(AccountRow.email).in_(sorted(e.lower() for e in emails)))
            .where(MailSettingsRow.reminders.is_(False))
        )
        return set(found)

    @staticmethod
    def _store(row: OutboxRow, claimed: ClaimedMail) -> None:
        if claimed.composed_now and claimed.subject is not None:
            row.message, row.subject = claimed.message, claimed.subject[:500]
        if claimed.status == "sending":  # not tried: due again as it was
            row.status = "pending"
            return
        row.attempts += 1
        row.status = claimed.status
        row.last_error = claimed.error
        if claimed.status == "sent":
            row.sent_at = claimed.at
        elif claimed.status == "pending" and claimed.at is not None:
            row.send_after = claimed.at

    @staticmethod
    def _claimed(row: OutboxRow) -> ClaimedMail:
        return ClaimedMail(
            row.id,
            row.message_id,
            row.recipient,
            row.message,
            row.attempts,
            row.booking_id,
            row.sequence,
            row.minutes,
        )

    @asynccontextmanager
    async def claim(self, now: datetime, limit: int = CLAIM_BATCH) -> AsyncIterator[list[ClaimedMail]]:
        """Hold up to ``limit`` due messages (none: an empty list) while the caller sends them
        and records each outcome; the outcomes are stored when the block ends. A message whose
        outcome is not recorded, or every message if the block raises, stays due."""
        if not self.db.is_sqlite:
            async with self.db.write() as session:
                rows = await self._take(session, now, limit)
                batch = [self._claimed(row) for row in rows]
                yield batch
                for row, claimed in zip(rows, batch, strict=True):
                    self._store(row, claimed)
            return
        async with self.db.write() as session:
            rows = await self._take(session, now, limit)
            for row in rows:
                row.status = "sending"
            batch = [self._claimed(row) for row in rows]
        try:
            yield batch
        finally:
            if batch:
                async with self.db.write() as session:
                    ids = [claimed.id for claimed in batch]
                    stored = {
                        r.id: r for r in await session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids)))
                    }
                    for claimed in batch:
                        found = stored.get(claimed.id)
                        if found is not None and found.status == "sending":
                            self._store(found, claimed)

    async def release_claims(self) -> int:
        """SQLite: put back the messages a dead process had claimed (there is one server process
        per SQLite file, so at start none is being sent). Returns how many."""
        async with self.db.write() as session:
            result = await session.execute(
                update(OutboxRow).where(OutboxRow.status == "sending").values(status="pending")
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def next_due(self) -> datetime | None:
        """When the earliest pending message or intent is due."""
        async with self.db.read() as session:
            message = await session.scalar(
                select(func.min(OutboxRow.send_after)).where(OutboxRow.status == "pending")
            )
            intent = await session.scalar(
                select(func.min(MailIntentRow.due_at)).where(MailIntentRow.status == "pending")
            )
        return min((d for d in (message, intent) if d is not None), default=None)

    # -- reading ------------------------------------------------------------------------------

    async def entries(
        self,
        *,
        venue_id: int | None = None,
        booking_id: int | None = None,
        status: str | None = None,
        limit: int = 200,
    ) -> list[OutboxEntry]:
        """Messages about the bookings of a venue (or one booking), newest first."""
        query = select(OutboxRow).order_by(OutboxRow.send_after.desc(), OutboxRow.id.desc()).limit(limit)
        query = _narrowed(query, OutboxRow, venue_id, booking_id, status)
        async with self.db.read() as session:
            return [_entry(row) for row in await session.scalars(query)]

    async def changes(
        self, *, venue_id: int | None = None, booking_id: int | None = None, status: str | None = None
    ) -> list[IntentEntry]:
        """Booking changes of a venue (or one booking) whose messages are not composed yet
        (``pending``: due, or waiting for a retry) or could not be (``failed``: composing
        raised after every retry), newest first."""
        query = (
            select(MailIntentRow)
            .where(MailIntentRow.status != "composed")
            .order_by(MailIntentRow.changed_at.desc(), MailIntentRow.id.desc())
            .limit(MAX_CHANGES)
        )
        query = _narrowed(query, MailIntentRow, venue_id, booking_id, status)
        async with self.db.read() as session:
            return [
                IntentEntry(
                    row.id,
                    row.booking_id,
                    row.sequence,
                    row.change,
                    row.changed_at,
                    row.status,
                    row.attempts,
                    row.due_at,
                    row.last_error,
                )
                for row in await session.scalars(query)
            ]

    async def message(self, message_id: str) -> bytes | None:
        async with self.db.read() as session:
            return await session.scalar(select(OutboxRow.message).where(OutboxRow.message_id == message_id))

    # -- settings -----------------------------------------------------------------------------

    async def settings(self, account_id: int) -> MailSettings:
        async with self.db.read() as session:
            return _settings(await session.get(MailSettingsRow, account_id))

    async def save_settings(self, account_id: int, settings: MailSettings) -> None:
        async with self.db.write() as session:
            row = await session.get(MailSettingsRow, account_id)
            if row is None:
                session.add(
                    MailSettingsRow(
                        account_id=account_id,
                        language=settings.language,
                        timezone=settings.timezone,
                        reminders=settings.reminders,
                    )
                )
            else:
                row.language, row.timezone, row.reminders = (
                    settings.language,
                    settings.timezone,
                    settings.reminders,
                )

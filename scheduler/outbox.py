"""The mail outbox and mail settings in the database: rows in, domain values out.

Messages are written by :meth:`Outbox.write` inside the transaction of the booking change they
tell about (a change that rolls back leaves no message), and taken in batches of up to
:data:`CLAIM_BATCH` by :meth:`Outbox.claim`:

* PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` in a transaction that stays open while the
  message is sent and is committed with its outcome. Another node skips the locked row, so two
  nodes never send one message at once; if the sending process dies, the database drops its
  connection, the locks and the uncommitted outcomes, and the messages are due again at once.
* SQLite (one server process, one writer): the claim marks the row ``sending`` in one short
  write, the message is sent outside any transaction (the writer is never held during SMTP),
  and a second write stores the outcome. A process that died leaves ``sending`` rows, which
  :meth:`Outbox.release_claims` puts back when the next process starts.

Either way a crash between the SMTP server's acceptance and the stored outcome sends the
messages of that batch again, with the same bytes and ``Message-ID``: at least once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .database import Database
from .mail import DEFAULT_LANGUAGE, OutgoingMail
from .tables import AccountRow, BoothHoldRow, BoothRow, MailSettingsRow, OutboxRow

STATUSES = ("pending", "sending", "sent", "failed", "superseded", "skipped", "expired")
#: Messages claimed at once: one claim and one outcome write for them all. A sender that dies
#: mid-batch sends again those of its batch it had sent (at least once).
CLAIM_BATCH = 20
MAX_ERROR = 1000


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
    message: bytes
    attempts: int
    status: str = field(default="sending", init=False)
    error: str | None = field(default=None, init=False)
    at: datetime | None = field(default=None, init=False)

    def sent(self, now: datetime) -> None:
        self.status, self.at, self.error = "sent", now, None

    def retry(self, error: str, at: datetime) -> None:
        self.status, self.at, self.error = "pending", at, error[:MAX_ERROR]

    def failed(self, error: str) -> None:
        self.status, self.at, self.error = "failed", None, error[:MAX_ERROR]


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

    @staticmethod
    async def write(
        session: AsyncSession,
        mails: Sequence[OutgoingMail],
        now: datetime,
        *,
        replace_reminders_of: int | None,
    ) -> None:
        """Queue ``mails``; with ``replace_reminders_of``, that booking's reminders still
        pending are superseded first (they speak of a version that no longer exists)."""
        if replace_reminders_of is not None:
            await session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.booking_id == replace_reminders_of,
                    OutboxRow.kind == "reminder",
                    OutboxRow.status == "pending",
                )
                .values(status="superseded")
            )
        if not mails:
            return
        # A Core executemany: the ORM's unit of work cost twice as much for these rows, inside
        # every booking's transaction.
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
                    "created_at": now,
                }
                for mail in mails
            ],
        )

    # -- the sender ---------------------------------------------------------------------------

    async def _take(self, session: AsyncSession, now: datetime, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` due messages, locked; reminders too late or refused are settled on
        the way (and not returned)."""
        while True:
            query = (
                select(OutboxRow)
                .where(OutboxRow.status == "pending", OutboxRow.send_after <= now)
                .order_by(OutboxRow.send_after, OutboxRow.id)
                .limit(limit)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list(await session.scalars(query))
            if not rows:
                return []
            refused = await self._refusing_reminders(
                session, {r.recipient for r in rows if r.kind == "reminder"}
            )
            kept = []
            for row in rows:
                if row.expires_at is not None and row.expires_at <= now:
                    row.status = "expired"
                elif row.kind == "reminder" and row.recipient.lower() in refused:
                    row.status = "skipped"
                else:
                    kept.append(row)
            if kept:
                return kept
            await session.flush()

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
        return ClaimedMail(row.id, row.message_id, row.recipient, row.message, row.attempts)

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
        """When the earliest pending message is due."""
        async with self.db.read() as session:
            return await session.scalar(
                select(func.min(OutboxRow.send_after)).where(OutboxRow.status == "pending")
            )

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
        if venue_id is not None:
            held = (
                select(BoothHoldRow.booking_id)
                .join(BoothRow, BoothRow.id == BoothHoldRow.booth_id)
                .where(BoothRow.venue_id == venue_id)
            )
            query = query.where(OutboxRow.booking_id.in_(held))
        if booking_id is not None:
            query = query.where(OutboxRow.booking_id == booking_id)
        if status is not None:
            query = query.where(OutboxRow.status == status)
        async with self.db.read() as session:
            return [_entry(row) for row in await session.scalars(query)]

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

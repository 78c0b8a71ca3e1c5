"""SQLAlchemy 2.0 typed tables. The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones, so values are stored as naive
    UTC in SQLAlchemy's fixed-width text format, which keeps string comparison (used by the
    overlap triggers) equal to time comparison.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class VenueRow(Base):
    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    city: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    subdivision: Mapped[str | None] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(300), default="")
    opening_hours: Mapped[dict[str, Any]]
    #: Overrides of the server-wide default rules, by field name of ``scheduler.model.Rules``.
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)

    booths: Mapped[list[BoothRow]] = relationship(back_populates="venue", order_by="BoothRow.id")
    blackouts: Mapped[list[BlackoutRow]] = relationship(order_by="BlackoutRow.start_at")


class BlackoutRow(Base):
    __tablename__ = "blackouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200))


class BoothRow(Base):
    __tablename__ = "booths"
    __table_args__ = (UniqueConstraint("venue_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))

    venue: Mapped[VenueRow] = relationship(back_populates="booths")


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    #: The venue a staff member works for; None for entrepreneurs and admins.
    venue_id: Mapped[int | None] = mapped_column(ForeignKey("venues.id"))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]


class AccessTokenRow(Base):
    """A bearer API token or a browser session; only the SHA-256 of the secret is stored."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class BookingRow(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("organizer_id", "idempotency_key"),
        # For windowed reads: see overlapping().
        Index("bookings_window", "end_at", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    organizer_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[datetime] = mapped_column(index=True)
    end_at: Mapped[datetime]
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    guests: Mapped[list[Any]] = mapped_column(default=list)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    #: Fingerprint of the request that created the booking, to tell a retry from a key reused.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    override_reason: Mapped[str | None] = mapped_column(Text)
    overridden_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    organizer: Mapped[AccountRow] = relationship(foreign_keys=[organizer_id])
    holds: Mapped[list[BoothHoldRow]] = relationship(
        back_populates="booking", cascade="all, delete-orphan", order_by="BoothHoldRow.position"
    )


def overlapping(lo: datetime, hi: datetime) -> ColumnElement[bool]:
    """Bookings overlapping ``[lo, hi)``, however long they are.

    Nothing may bound ``start_at`` from below by an assumed longest booking: a row longer than
    today's cap (made before it, by hand, or under another rule) would drop out of every
    window that starts after its start plus that bound. The ``bookings_window`` index serves
    ``end_at > lo`` and checks ``start_at < hi`` in the index.
    """
    return and_(BookingRow.end_at > lo, BookingRow.start_at < hi)


class BoothHoldRow(Base):
    """One booth held by one booking.

    ``blocked_until`` is the end plus the venue's turnover buffer, and ``active`` mirrors the
    booking being confirmed, so that the database itself refuses two overlapping holds of a booth:
    an exclusion constraint on PostgreSQL, triggers on SQLite (see the first migration).
    """

    __tablename__ = "booth_holds"

    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[datetime]
    blocked_until: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean)

    booking: Mapped[BookingRow] = relationship(back_populates="holds")
    booth: Mapped[BoothRow] = relationship()


class DeviceKeyRow(Base):
    """A booth's device key (only its SHA-256); rotating revokes the previous key at once."""

    __tablename__ = "device_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    #: When the booth last showed this key (kiosk page or signalling hello), to the minute.
    last_seen_at: Mapped[datetime | None]


class FeedTokenRow(Base):
    """The secret in a calendar feed URL (only its SHA-256): one organizer's or one venue's feed."""

    __tablename__ = "feed_tokens"
    __table_args__ = (Index("feed_tokens_subject", "kind", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``organizer`` (subject: an account id) or ``venue`` (subject: a venue id, for its staff).
    kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class FeedVersionRow(Base):
    """A calendar feed's version, kept by database triggers (migration 0003) in the transaction
    of every write that can change what the feed shows: ``version`` goes up by one and
    ``changed_at`` moves to the write's time. A conditional GET compares this row, not the
    feed's bookings. ``kind`` is ``organizer`` (an account id), ``venue`` or ``booth``."""

    __tablename__ = "feed_versions"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    subject_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


class RoomLogEntryRow(Base):
    """One entry of a signalling room's log, kept by the embedded default (one process, no
    shared bus) so that a restart rebuilds every live room: members, resume tokens (hashed)
    and the numbering of each booth's messages. ``entry`` is the bus's encoded JSON."""

    __tablename__ = "room_log_entries"

    booking_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry: Mapped[str] = mapped_column(Text)


class SignallingEpochRow(Base):
    """One run of the signalling state: a new epoch starts when the state may have lost its
    newest entries (a crash, or a shared store that restarted empty). ``clean`` is set by a
    graceful shutdown; an epoch found unclean at start was cut short."""

    __tablename__ = "signalling_epochs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    clean: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Room messages of rooms opened in this epoch number from here (webrtc.limits.SEQ_EPOCH_SPAN).
    seq_base: Mapped[int] = mapped_column(BigInteger, default=0)


class MailSettingsRow(Base):
    """An account's mail preferences; an account without a row has the defaults (English, no
    zone of its own, reminders on)."""

    __tablename__ = "mail_settings"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str | None] = mapped_column(String(64))
    reminders: Mapped[bool] = mapped_column(Boolean)


class OutboxRow(Base):
    """One e-mail to one recipient, written when the sender composes the intent of the booking
    change it tells about, sent later by the sender task (booth_server/mail.py). ``message`` is
    the whole RFC 5322 message, ``Message-ID`` included, so a resend after a crash is the same
    message; a reminder's is None until it falls due and is composed (the Message-ID is fixed
    when it is scheduled)."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index("mail_outbox_due", "status", "send_after"),
        # A booking's messages, and the one before a message to the same recipient, which it
        # waits for (scheduler/outbox.py): looked up for every message claimed.
        Index("mail_outbox_booking_recipient", "booking_id", "recipient", "sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    #: invitation, update, cancellation or reminder
    kind: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500))
    message: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: A reminder's delay before the start, in minutes.
    minutes: Mapped[int | None] = mapped_column(Integer)
    #: pending, sending (SQLite: claimed by the sender), sent, failed, superseded, skipped, expired
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    send_after: Mapped[datetime]
    #: A reminder is not sent once the session has started.
    expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class MailIntentRow(Base):
    """One booking change whose messages are still to be composed: written in the change's
    transaction (a change that rolls back leaves none), turned into ``mail_outbox`` rows by the
    sender task. ``booking`` is the booking as that change left it (``scheduler.outbox``), so
    the messages say that version even when the booking has changed again since."""

    __tablename__ = "mail_intents"
    __table_args__ = (
        UniqueConstraint("booking_id", "sequence", name="mail_intents_booking_sequence"),
        Index("mail_intents_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    #: created, moved, extended, shortened, edited or cancelled (scheduler.changes.ChangeKind)
    change: Mapped[str] = mapped_column(String(20))
    #: The change's instant: the messages' Date, and what "already past" means for reminders.
    changed_at: Mapped[datetime]
    booking: Mapped[dict[str, Any]]
    #: pending, composed, failed (composing raised after every retry)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)


class SelfTestRow(Base):
    """One finished booth self-test (docs/selftest.md): the booth's health at that time."""

    __tablename__ = "selftest_results"
    __table_args__ = (Index("selftest_results_booth_finished", "booth_id", "finished_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    test_id: Mapped[str] = mapped_column(String(48), unique=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id"))
    #: ``kiosk_start``, ``opening``, ``before_session``, ``staff`` or ``manual``.
    trigger: Mapped[str] = mapped_column(String(20))
    booking_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    verdict: Mapped[str] = mapped_column(String(10))
    score: Mapped[float | None] = mapped_column(Float)
    figures: Mapped[dict[str, Any]]
    paths: Mapped[dict[str, Any]]
    problems: Mapped[list[Any]]
    #: What the echo peer saw on each leg (frames, black frames, audio level, RTCP figures).
    echo: Mapped[dict[str, Any]]


class CallQualityRow(Base):
    """One kiosk's ``call_stats`` during a session (every 10 s)."""

    __tablename__ = "call_quality_samples"
    __table_args__ = (Index("call_quality_samples_booking", "booking_id", "booth_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"))
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id"))
    at: Mapped[datetime]
    rtt_ms: Mapped[float] = mapped_column(Float)
    jitter_ms: Mapped[float] = mapped_column(Float)
    loss_percent: Mapped[float] = mapped_column(Float)
    bitrate_out_kbps: Mapped[float] = mapped_column(Float)
    bitrate_in_kbps: Mapped[float] = mapped_column(Float)
    frames_received: Mapped[int] = mapped_column(Integer)
    relayed: Mapped[bool] = mapped_column(Boolean)

"""Venues, booths, accounts, tokens and bookings, with double booking refused by the database.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from scheduler.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Two holds of one booth overlap when each starts before the other's buffered end.
_SQLITE_OVERLAP = """
CREATE TRIGGER booth_holds_no_overlap_{event}
BEFORE {event} ON booth_holds
WHEN NEW.active AND EXISTS (
    SELECT 1 FROM booth_holds AS other
    WHERE other.booth_id = NEW.booth_id
      AND other.active
      AND other.booking_id != NEW.booking_id
      AND other.start_at < NEW.blocked_until
      AND NEW.start_at < other.blocked_until
)
BEGIN
    SELECT RAISE(ABORT, 'booth_holds_no_overlap');
END
"""


def upgrade() -> None:
    op.create_table(
        "venues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("subdivision", sa.String(10)),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("opening_hours", sa.JSON, nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
    )
    op.create_table(
        "blackouts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "venue_id", sa.Integer, sa.ForeignKey("venues.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("start_at", UTCDateTime, nullable=False),
        sa.Column("end_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.create_table(
        "booths",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.UniqueConstraint("venue_id", "name"),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id")),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(100), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("organizer_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_at", UTCDateTime, nullable=False, index=True),
        sa.Column("end_at", UTCDateTime, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("guests", sa.JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("override_reason", sa.Text),
        sa.Column("overridden_by", sa.Integer, sa.ForeignKey("accounts.id")),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("organizer_id", "idempotency_key"),
        sa.CheckConstraint("end_at > start_at", name="bookings_positive_range"),
    )
    op.create_table(
        "booth_holds",
        sa.Column(
            "booking_id", sa.Integer, sa.ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("booth_id", sa.Integer, sa.ForeignKey("booths.id"), primary_key=True, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("start_at", UTCDateTime, nullable=False),
        sa.Column("blocked_until", UTCDateTime, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.CheckConstraint("blocked_until > start_at", name="booth_holds_positive_range"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE booth_holds ADD CONSTRAINT booth_holds_no_overlap EXCLUDE USING gist "
            "(booth_id WITH =, tstzrange(start_at, blocked_until, '[)') WITH &&) WHERE (active)"
        )
    else:
        op.execute(_SQLITE_OVERLAP.format(event="INSERT"))
        op.execute(_SQLITE_OVERLAP.format(event="UPDATE"))


def downgrade() -> None:
    for table in ("booth_holds", "bookings", "access_tokens", "accounts", "booths", "blackouts", "venues"):
        op.drop_table(table)

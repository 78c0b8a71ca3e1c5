"""The mail outbox and each account's mail settings.

``mail_outbox`` rows are written in the transaction of the booking change they tell about and
sent by the server's sender task; ``mail_settings`` holds an account's language, time zone and
whether it gets reminders.

Revision ID: 0012
Revises: 0013
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from scheduler.tables import UTCDateTime

revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None

STATUSES = ("pending", "sending", "sent", "failed", "superseded", "skipped", "expired")
KINDS = ("invitation", "update", "cancellation", "reminder")


def upgrade() -> None:
    op.create_table(
        "mail_settings",
        sa.Column(
            "account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("timezone", sa.String(64)),
        sa.Column("reminders", sa.Boolean, nullable=False),
        sa.CheckConstraint("language IN ('en', 'fr')", name="mail_settings_language"),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "booking_id",
            sa.Integer,
            sa.ForeignKey("bookings.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("message", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("send_after", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="mail_outbox_status"
        ),
        sa.CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name="mail_outbox_kind"),
    )
    op.create_index("mail_outbox_due", "mail_outbox", ["status", "send_after"])


def downgrade() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("mail_settings")

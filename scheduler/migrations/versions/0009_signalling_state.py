"""Signalling state of the embedded default: room logs and epochs.

One process without a shared bus keeps each live room's log here, written behind the event loop
in batches, so that a restart (a deploy, or a crash) rebuilds every room, its members and their
resume tokens; an epoch row per run tells a graceful stop from a crash (docs/protocol.md, Resume).

Revision ID: 0009
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from scheduler.tables import UTCDateTime

revision = "0009"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_log_entries",
        sa.Column("booking_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("entry", sa.Text, nullable=False),
    )
    op.create_table(
        "signalling_epochs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("clean", sa.Boolean, nullable=False),
        sa.Column("seq_base", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("signalling_epochs")
    op.drop_table("room_log_entries")

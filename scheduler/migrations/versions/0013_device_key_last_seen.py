"""When a booth last used its device key, for the staff console's key status.

Revision ID: 0013
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from scheduler.tables import UTCDateTime

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device_keys") as batch:
        batch.add_column(sa.Column("last_seen_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_keys") as batch:
        batch.drop_column("last_seen_at")

"""An index on bookings (end_at, start_at), for windowed reads that hold for bookings of any length.

A booking overlaps a window ``[lo, hi)`` when ``end_at > lo AND start_at < hi``. The feeds and
free/busy used to add ``start_at > lo - 1 day`` so that the ``start_at`` index could bound the
scan, which silently dropped any booking longer than a day. Without that bound, this index
serves the ``end_at > lo`` side, and ``start_at < hi`` is checked inside the index before a row
is read.

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-30
"""

from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        # The upgrade runs in one transaction, and an earlier step (0011 repairing a title) may
        # leave the deferred feed trigger of bookings (0003) with pending events, which makes
        # PostgreSQL refuse to build an index on the table: fire them now, then defer the
        # trigger again for what follows, as 0003 made it.
        op.execute("SET CONSTRAINTS feed_versions_booking IMMEDIATE")
    op.create_index("bookings_window", "bookings", ["end_at", "start_at"])
    if postgresql:
        op.execute("SET CONSTRAINTS feed_versions_booking DEFERRED")


def downgrade() -> None:
    op.drop_index("bookings_window", table_name="bookings")

"""Rows that older versions let in and that the input bounds now refuse: repaired or removed.

Blackouts wholly outside 2000–2100 are deleted (no booking can fall in them). Texts with a lone
surrogate or a control character (booking titles and guests, account names, blackout reasons)
are repaired with ``scheduler.bounds.cleaned``, so that every feed and ``.ics`` can encode them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from scheduler import bounds
from scheduler.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TEXTS = {"bookings": ("title",), "accounts": ("name", "company"), "blackouts": ("reason",)}


def upgrade() -> None:
    connection = op.get_bind()
    blackouts = sa.table("blackouts", sa.column("start_at", UTCDateTime), sa.column("end_at", UTCDateTime))
    connection.execute(
        sa.delete(blackouts).where(
            sa.or_(blackouts.c.end_at <= bounds.EARLIEST, blackouts.c.start_at >= bounds.LATEST)
        )
    )
    for table_name, columns in _TEXTS.items():
        table = sa.table(table_name, sa.column("id", sa.Integer), *(sa.column(c, sa.String) for c in columns))
        for row in connection.execute(sa.select(table)).mappings():
            repaired = {c: bounds.cleaned(row[c]) for c in columns if row[c] is not None}
            changed = {c: v for c, v in repaired.items() if v != row[c]}
            if changed:
                connection.execute(sa.update(table).where(table.c.id == row["id"]).values(**changed))
    bookings = sa.table("bookings", sa.column("id", sa.Integer), sa.column("guests", sa.JSON))
    for booking_id, guests in connection.execute(sa.select(bookings.c.id, bookings.c.guests)):
        repaired_guests: list[Any] = [bounds.cleaned(g) if isinstance(g, str) else g for g in guests or []]
        if repaired_guests != guests:
            connection.execute(
                sa.update(bookings).where(bookings.c.id == booking_id).values(guests=repaired_guests)
            )


def downgrade() -> None:
    """Nothing to undo: the removed rows and characters were unreadable."""

"""A version per calendar feed, kept by the database on every booking write.

``feed_versions`` holds one row per feed subject (an organizer, a venue or a booth): ``version``
goes up by one, and ``changed_at`` moves to the write's time, in the very transaction of every
write that can change what the feed shows, so that a conditional GET compares one small row
instead of reading the feed's bookings (see ``scheduler/feeds.py`` and ``docs/calendars.md``).

Which writes bump which rows:

* ``bookings`` insert, update, delete: the organizer; on update also every booth the booking
  holds and those booths' venues (venue feeds show the title, times and status; booth feeds the
  times and status).
* ``booth_holds`` insert, update, delete: the booth (old and new), its venue, and the booking's
  organizer (organizer feeds print the booths).
* ``accounts`` update of name, e-mail or company: the account's organizer feed and the venues
  of every booth its bookings hold (venue feeds print the organizer).

``changed_at`` is the booking's ``updated_at`` (the application's clock, which every booking
write sets), else (a deletion, an account rename) the statement's time, and never goes back.

SQLite runs the upserts in plain ``AFTER`` triggers: it has one writer at a time, and
SQLAlchemy's unit of work writes a booking before its holds, so the holds' triggers see the new
``updated_at``. PostgreSQL runs them in constraint triggers deferred to the commit (still inside
the transaction): by then the booking and its holds are final, and the row locks on
``feed_versions`` are taken as late as possible and, for one booking, in a fixed order (kind,
then id), which keeps two concurrent bookings of the same two venues from deadlocking.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from scheduler.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# --------------------------------------------------------------------------- SQLite

# SQLAlchemy stores SQLite datetimes as fixed-width naive UTC text with microseconds.
_SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
# "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint of the SELECT.
_SQLITE_BUMP = """
    INSERT INTO feed_versions (kind, subject_id, version, changed_at)
    SELECT DISTINCT {kind}, subject_id, 1, at FROM ({select}) WHERE subject_id IS NOT NULL
    ON CONFLICT (kind, subject_id) DO UPDATE
    SET version = feed_versions.version + 1, changed_at = max(feed_versions.changed_at, excluded.changed_at);"""


def _sqlite_bump(kind: str, select: str) -> str:
    """Bump the ``kind`` rows of the subject ids that ``select`` gives (columns subject_id, at)."""
    return _SQLITE_BUMP.format(kind=f"'{kind}'", select=select)


def _sqlite_booking_subjects(booking: str, at: str) -> str:
    """Booths and venues of the booking ``booking`` (an SQL expression), bumped at ``at``."""
    booths = (
        f"SELECT h.booth_id AS subject_id, {at} AS at FROM booth_holds AS h WHERE h.booking_id = {booking}"
    )
    venues = (
        f"SELECT b.venue_id AS subject_id, {at} AS at FROM booth_holds AS h "
        f"JOIN booths AS b ON b.id = h.booth_id WHERE h.booking_id = {booking}"
    )
    return _sqlite_bump("booth", booths) + _sqlite_bump("venue", venues)


def _sqlite_hold(row: str) -> str:
    """Bumps for one hold (``row`` is NEW or OLD): its booth, its venue, its booking's organizer."""
    at = f"coalesce((SELECT updated_at FROM bookings WHERE id = {row}.booking_id), {_SQLITE_NOW})"
    return (
        _sqlite_bump("booth", f"SELECT {row}.booth_id AS subject_id, {at} AS at")
        + _sqlite_bump(
            "venue", f"SELECT venue_id AS subject_id, {at} AS at FROM booths WHERE id = {row}.booth_id"
        )
        + _sqlite_bump(
            "organizer",
            f"SELECT organizer_id AS subject_id, {at} AS at FROM bookings WHERE id = {row}.booking_id",
        )
    )


_SQLITE_TRIGGERS = {
    "feed_versions_booking_insert": (
        "AFTER INSERT ON bookings",
        _sqlite_bump("organizer", "SELECT NEW.organizer_id AS subject_id, NEW.updated_at AS at"),
    ),
    "feed_versions_booking_update": (
        "AFTER UPDATE ON bookings",
        _sqlite_bump(
            "organizer",
            "SELECT NEW.organizer_id AS subject_id, NEW.updated_at AS at "
            "UNION SELECT OLD.organizer_id, NEW.updated_at",
        )
        + _sqlite_booking_subjects("NEW.id", "NEW.updated_at"),
    ),
    "feed_versions_booking_delete": (
        "AFTER DELETE ON bookings",
        _sqlite_bump("organizer", f"SELECT OLD.organizer_id AS subject_id, {_SQLITE_NOW} AS at"),
    ),
    "feed_versions_hold_insert": ("AFTER INSERT ON booth_holds", _sqlite_hold("NEW")),
    "feed_versions_hold_update": ("AFTER UPDATE ON booth_holds", _sqlite_hold("OLD") + _sqlite_hold("NEW")),
    "feed_versions_hold_delete": ("AFTER DELETE ON booth_holds", _sqlite_hold("OLD")),
    "feed_versions_account_rename": (
        "AFTER UPDATE OF name, email, company ON accounts "
        "WHEN NEW.name IS NOT OLD.name OR NEW.email IS NOT OLD.email OR NEW.company IS NOT OLD.company",
        _sqlite_bump("organizer", f"SELECT NEW.id AS subject_id, {_SQLITE_NOW} AS at")
        + _sqlite_bump(
            "venue",
            f"SELECT b.venue_id AS subject_id, {_SQLITE_NOW} AS at FROM bookings AS k "
            "JOIN booth_holds AS h ON h.booking_id = k.id JOIN booths AS b ON b.id = h.booth_id "
            "WHERE k.organizer_id = NEW.id",
        ),
    ),
}

# --------------------------------------------------------------------------- PostgreSQL

_PG_FUNCTIONS = [
    # Bumps every (kind, subject_id) that the query gives, in a fixed order (row locks).
    """
    CREATE FUNCTION feed_versions_bump(subjects text, at timestamptz) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE format(
            'INSERT INTO feed_versions (kind, subject_id, version, changed_at) '
            'SELECT DISTINCT kind, subject_id, 1, $1 FROM (%s) AS s WHERE subject_id IS NOT NULL '
            'ORDER BY kind, subject_id '
            'ON CONFLICT (kind, subject_id) DO UPDATE SET version = feed_versions.version + 1, '
            'changed_at = GREATEST(feed_versions.changed_at, EXCLUDED.changed_at)', subjects)
        USING at;
    END $$
    """,
    """
    CREATE FUNCTION feed_versions_booking() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM feed_versions_bump(format('SELECT %L::text AS kind, %s AS subject_id', 'organizer',
                                              OLD.organizer_id), statement_timestamp());
            RETURN NULL;
        END IF;
        -- At commit: the holds are final; the booking's row as it was at this event.
        PERFORM feed_versions_bump(format(
            'SELECT ''organizer''::text AS kind, %1$s AS subject_id '
            'UNION ALL SELECT ''organizer'', %2$s '
            'UNION ALL SELECT ''booth'', h.booth_id FROM booth_holds AS h WHERE h.booking_id = %3$s '
            'UNION ALL SELECT ''venue'', b.venue_id FROM booth_holds AS h JOIN booths AS b ON b.id = h.booth_id '
            'WHERE h.booking_id = %3$s',
            NEW.organizer_id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.organizer_id ELSE NEW.organizer_id END, NEW.id),
            NEW.updated_at);
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION feed_versions_hold() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        booth_ids text;
        booking_ids text;
        at timestamptz;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            booth_ids := NEW.booth_id::text; booking_ids := NEW.booking_id::text;
        ELSIF TG_OP = 'DELETE' THEN
            booth_ids := OLD.booth_id::text; booking_ids := OLD.booking_id::text;
        ELSE
            booth_ids := OLD.booth_id || ', ' || NEW.booth_id;
            booking_ids := OLD.booking_id || ', ' || NEW.booking_id;
        END IF;
        EXECUTE format('SELECT max(updated_at) FROM bookings WHERE id IN (%s)', booking_ids) INTO at;
        PERFORM feed_versions_bump(format(
            'SELECT ''booth''::text AS kind, id AS subject_id FROM booths WHERE id IN (%1$s) '
            'UNION ALL SELECT ''venue'', venue_id FROM booths WHERE id IN (%1$s) '
            'UNION ALL SELECT ''organizer'', organizer_id FROM bookings WHERE id IN (%2$s)',
            booth_ids, booking_ids), coalesce(at, statement_timestamp()));
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION feed_versions_account() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM feed_versions_bump(format(
            'SELECT ''organizer''::text AS kind, %1$s AS subject_id '
            'UNION ALL SELECT ''venue'', b.venue_id FROM bookings AS k '
            'JOIN booth_holds AS h ON h.booking_id = k.id JOIN booths AS b ON b.id = h.booth_id '
            'WHERE k.organizer_id = %1$s', NEW.id), statement_timestamp());
        RETURN NULL;
    END $$
    """,
]

_PG_TRIGGERS = [
    "CREATE CONSTRAINT TRIGGER feed_versions_booking AFTER INSERT OR UPDATE OR DELETE ON bookings "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION feed_versions_booking()",
    "CREATE CONSTRAINT TRIGGER feed_versions_hold AFTER INSERT OR UPDATE OR DELETE ON booth_holds "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION feed_versions_hold()",
    "CREATE CONSTRAINT TRIGGER feed_versions_account AFTER UPDATE OF name, email, company ON accounts "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
    "WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email "
    "OR OLD.company IS DISTINCT FROM NEW.company) EXECUTE FUNCTION feed_versions_account()",
]

# Rows for the bookings already there, so that their feeds have a version from the start.
_BACKFILL = [
    "INSERT INTO feed_versions (kind, subject_id, version, changed_at) "
    "SELECT 'organizer', organizer_id, 1, max(updated_at) FROM bookings GROUP BY organizer_id",
    "INSERT INTO feed_versions (kind, subject_id, version, changed_at) "
    "SELECT 'booth', h.booth_id, 1, max(k.updated_at) FROM booth_holds AS h "
    "JOIN bookings AS k ON k.id = h.booking_id GROUP BY h.booth_id",
    "INSERT INTO feed_versions (kind, subject_id, version, changed_at) "
    "SELECT 'venue', b.venue_id, 1, max(k.updated_at) FROM booth_holds AS h "
    "JOIN bookings AS k ON k.id = h.booking_id JOIN booths AS b ON b.id = h.booth_id GROUP BY b.venue_id",
]


def upgrade() -> None:
    op.create_table(
        "feed_versions",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("subject_id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("kind IN ('organizer', 'venue', 'booth')", name="feed_versions_kind"),
    )
    for statement in _BACKFILL:
        op.execute(statement)
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_FUNCTIONS + _PG_TRIGGERS:
            op.execute(statement)
    else:
        for name, (when, body) in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {body}\nEND")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER feed_versions_account ON accounts")
        op.execute("DROP TRIGGER feed_versions_hold ON booth_holds")
        op.execute("DROP TRIGGER feed_versions_booking ON bookings")
        for function in (
            "feed_versions_account()",
            "feed_versions_hold()",
            "feed_versions_booking()",
            "feed_versions_bump(text, timestamptz)",
        ):
            op.execute(f"DROP FUNCTION {function}")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("feed_versions")

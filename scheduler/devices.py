"""Booths as devices: adding a booth, and its device keys.

Only a key's SHA-256 is stored; a booth has one live key, and issuing another revokes the rest.
The caller hashes (``booth_server.auth.secret_hash``); this module never sees a key itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .batching import Batched
from .database import Database
from .errors import AlreadyExists
from .store import Store
from .tables import BoothRow, DeviceKeyRow


class BoothNameTaken(AlreadyExists):
    """A venue already has a booth of that name (HTTP 409)."""

    code = "name_taken"


async def create_booth(store: Store, venue_id: int, name: str) -> int:
    """Add a booth to a venue; the unique (venue, name) constraint settles a race."""
    taken = BoothNameTaken(f"this venue already has a booth named {name!r}", field="name")
    if await store.booth_id_by_name(venue_id, name) is not None:
        raise taken
    try:
        return await store.create_booth(venue_id, name)
    except IntegrityError:
        raise taken from None


@dataclass(frozen=True)
class DeviceKey:
    """A live device key. ``key_hash`` also signs the booth's session tokens, so they die with it."""

    id: int
    booth_id: int
    key_hash: str
    created_at: datetime


def _key(row: DeviceKeyRow) -> DeviceKey:
    return DeviceKey(row.id, row.booth_id, row.key_hash, row.created_at)


@dataclass(frozen=True)
class KeyStatus:
    """What staff may know of a booth's live key: when it was issued and last used; never the key."""

    booth_id: int
    issued_at: datetime
    last_seen_at: datetime | None


#: "Last seen" is kept to this precision, so a booth reconnecting often writes rarely.
SEEN_PRECISION = timedelta(minutes=1)


class DeviceKeys:
    """The repository of device keys, one short session per call.

    The lookups of a ``hello`` (:meth:`find`, :meth:`live`) are batched: booths connecting at
    once share one query (``scheduler.batching``), and nothing is cached.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_hash: Batched[str, DeviceKey] = Batched(self._find_many)
        self._by_id: Batched[int, DeviceKey] = Batched(self._live_many)
        #: "Last seen" writes of booths connecting at once share one transaction: on SQLite a
        #: write each was most of a join storm's database time.
        self._seen: Batched[int, None] = Batched(self._seen_many)
        self._seen_at: dict[int, datetime] = {}

    async def issue(
        self, booth_id: int, key_hash: str, created_by: int | None, now: datetime
    ) -> tuple[DeviceKey, int]:
        """Store a new key for the booth and revoke every older one, in one transaction.

        Returns the new key and how many live keys it replaced.
        """
        async with self.db.write() as session:
            await self._lock_booth(session, booth_id)
            revoked = await self._revoke(session, booth_id, now)
            row = DeviceKeyRow(booth_id=booth_id, key_hash=key_hash, created_by=created_by, created_at=now)
            session.add(row)
            await session.flush()
            return _key(row), revoked

    async def revoke(self, booth_id: int, now: datetime) -> int:
        """Revoke the booth's live keys; returns how many there were."""
        async with self.db.write() as session:
            await self._lock_booth(session, booth_id)
            return await self._revoke(session, booth_id, now)

    async def find(self, key_hash: str) -> DeviceKey | None:
        """The live key with this hash, or None (unknown or revoked)."""
        return await self._by_hash.get(key_hash)

    async def live(self, key_id: int) -> DeviceKey | None:
        """The key with this id if it is not revoked."""
        return await self._by_id.get(key_id)

    async def _find_many(self, key_hashes: Sequence[str]) -> dict[str, DeviceKey]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(DeviceKeyRow).where(
                    DeviceKeyRow.key_hash.in_(key_hashes), DeviceKeyRow.revoked_at.is_(None)
                )
            )
            return {row.key_hash: _key(row) for row in rows}

    async def _live_many(self, key_ids: Sequence[int]) -> dict[int, DeviceKey]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(DeviceKeyRow).where(DeviceKeyRow.id.in_(key_ids), DeviceKeyRow.revoked_at.is_(None))
            )
            return {row.id: _key(row) for row in rows}

    async def live_for_booth(self, booth_id: int) -> DeviceKey | None:
        async with self.db.read() as session:
            row = await session.scalar(
                select(DeviceKeyRow)
                .where(DeviceKeyRow.booth_id == booth_id, DeviceKeyRow.revoked_at.is_(None))
                .order_by(DeviceKeyRow.id.desc())
            )
            return _key(row) if row else None

    async def seen(self, key_id: int, now: datetime) -> None:
        """Record that the booth used this key at ``now`` (at most one write a minute per key)."""
        self._seen_at[key_id] = max(now, self._seen_at.get(key_id, now))
        await self._seen.get(key_id)

    async def _seen_many(self, key_ids: Sequence[int]) -> dict[int, None]:
        # The keys of one batch were used within a few milliseconds: the latest instant stands
        # for all of them, well within SEEN_PRECISION.
        now = max(self._seen_at.pop(key_id) for key_id in key_ids)
        async with self.db.write() as session:
            await session.execute(
                update(DeviceKeyRow)
                .where(
                    DeviceKeyRow.id.in_(key_ids),
                    (DeviceKeyRow.last_seen_at.is_(None))
                    | (DeviceKeyRow.last_seen_at < now - SEEN_PRECISION),
                )
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
        return {}

    async def statuses(self, booth_ids: list[int]) -> list[KeyStatus]:
        """The live key of each of these booths that has one, in booth order."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(DeviceKeyRow)
                .where(DeviceKeyRow.booth_id.in_(booth_ids), DeviceKeyRow.revoked_at.is_(None))
                .order_by(DeviceKeyRow.booth_id, DeviceKeyRow.id)
            )
            latest = {row.booth_id: row for row in rows}
            return [KeyStatus(r.booth_id, r.created_at, r.last_seen_at) for r in latest.values()]

    async def _lock_booth(self, session: AsyncSession, booth_id: int) -> None:
        # Two rotations racing on PostgreSQL would otherwise each revoke the old key and both
        # insert one, leaving two live keys. SQLite serializes writers already.
        if not self.db.is_sqlite:
            await session.execute(select(BoothRow.id).where(BoothRow.id == booth_id).with_for_update())

    @staticmethod
    async def _revoke(session: AsyncSession, booth_id: int, now: datetime) -> int:
        result = await session.execute(
            update(DeviceKeyRow)
            .where(DeviceKeyRow.booth_id == booth_id, DeviceKeyRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

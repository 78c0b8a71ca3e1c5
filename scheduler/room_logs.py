"""Where the embedded default keeps its signalling rooms' logs between runs (see migration 0009).

The entries are opaque text to this module (the signalling bus encodes them). Writes come in
batches from a task behind the event loop; a restart reads them all back, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from .database import Database
from .tables import RoomLogEntryRow, SignallingEpochRow


class RoomLogs:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start_epoch(self, now: datetime, span: int, *, lost: bool = False) -> tuple[int, int, bool]:
        """Begin a run: its epoch id, the base its rooms number from, and whether the previous
        run stopped without a clean shutdown. When it did (or ``lost``: a shared store came back
        empty) the base moves ``span`` higher, past any number the previous run gave."""
        async with self.db.write() as session:
            last = await session.scalar(
                select(SignallingEpochRow).order_by(SignallingEpochRow.id.desc()).limit(1)
            )
            crashed = last is not None and not last.clean
            base = 0 if last is None else last.seq_base + (span if crashed or lost else 0)
            row = SignallingEpochRow(started_at=now, clean=False, seq_base=base)
            session.add(row)
            await session.flush()
            return row.id, base, crashed

    async def end_epoch(self, epoch: int) -> None:
        """Everything of the run is written: the next start need not suspect a gap."""
        async with self.db.write() as session:
            await session.execute(
                update(SignallingEpochRow).where(SignallingEpochRow.id == epoch).values(clean=True)
            )

    async def write(self, rows: Sequence[tuple[int, int, str]], finished: Iterable[int] = ()) -> None:
        """Store ``(booking, position, entry)`` rows, and forget the rooms in ``finished``."""
        finished = list(finished)
        async with self.db.write() as session:
            if rows:
                await session.execute(
                    insert(RoomLogEntryRow),
                    [{"booking_id": b, "position": p, "entry": e} for b, p, e in rows],
                )
            if finished:
                await session.execute(delete(RoomLogEntryRow).where(RoomLogEntryRow.booking_id.in_(finished)))

    async def load(self) -> list[tuple[int, int, str]]:
        """Every stored entry, room by room, in log order."""
        async with self.db.read() as session:
            result = await session.execute(
                select(RoomLogEntryRow.booking_id, RoomLogEntryRow.position, RoomLogEntryRow.entry).order_by(
                    RoomLogEntryRow.booking_id, RoomLogEntryRow.position
                )
            )
            return [(b, p, e) for b, p, e in result]

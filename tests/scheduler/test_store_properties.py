"""Property: whatever sequence of book, cancel and reschedule reaches the store, what it keeps is sound.

No two confirmed bookings of a booth overlap (turnover buffer included), and every confirmed
booking passes every rule against everything else that is stored.
"""

from __future__ import annotations

import asyncio
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booth_server.demo import seed
from scheduler import rules
from scheduler.database import Database
from scheduler.errors import SchedulerError
from scheduler.model import Account, BookingRequest, BookingStatus, Busy, TimeRange
from scheduler.store import BookingChange, NewBooking, Store

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
FIRST_DAY = datetime(2027, 3, 8, tzinfo=UTC)  # a Monday; the window crosses the US change on 14 March

when = st.builds(
    lambda day, quarter: FIRST_DAY + timedelta(days=day, hours=14, minutes=15 * quarter),
    st.integers(0, 11),
    st.integers(0, 19),
)
book = st.tuples(
    st.just("book"),
    st.integers(0, 2),
    st.sampled_from([1, 2]),
    st.sampled_from([3, 4]),
    when,
    st.sampled_from([15, 30, 45, 60, 90, 120]),
)
cancel = st.tuples(st.just("cancel"), st.integers(0, 50))
move = st.tuples(st.just("move"), st.integers(0, 50), when)
operations = st.lists(st.one_of(book, cancel, move), min_size=1, max_size=14)


async def _run(ops: list[tuple[Any, ...]], folder: Path) -> None:
    db = Database(f"sqlite:///{folder / 'p.db'}")
    await db.migrate()
    store = Store(db)
    await seed(store, NOW)
    organizers = [
        await _account(store, email)
        for email in (
            "ada@demo.sebastian.example",
            "staff.paris@demo.sebastian.example",
            "admin@demo.sebastian.example",
        )
    ]
    admin = organizers[2]
    ids: list[int] = []
    try:
        for op in ops:
            try:
                if op[0] == "book":
                    _, who, paris, sf, start, minutes = op
                    view, _ = await store.create_booking(
                        NewBooking((paris, sf), start, start + timedelta(minutes=minutes), "t"),
                        organizers[who],
                        NOW,
                    )
                    ids.append(view.id)
                elif op[0] == "cancel" and ids:
                    await store.cancel_booking(ids[op[1] % len(ids)], admin, NOW)
                elif op[0] == "move" and ids:
                    await store.change_booking(ids[op[1] % len(ids)], BookingChange(start=op[2]), admin, NOW)
            except SchedulerError:
                pass  # refused: the property is about what is kept
            await _assert_sound(store, admin)
    finally:
        await db.dispose()


async def _account(store: Store, email: str) -> Account:
    found = await store.credentials(email)
    assert found is not None, email
    return found[0]


async def _assert_sound(store: Store, admin: Account) -> None:
    confirmed = [b for b in await store.bookings_for(admin) if b.status is BookingStatus.CONFIRMED]
    holds = [(booth, b) for b in confirmed for booth in b.booths]
    for i, (booth, one) in enumerate(holds):
        buffer = booth.venue.rules.buffer
        for other_booth, other in holds[i + 1 :]:
            if other_booth.id == booth.id and one.id != other.id:
                assert one.end + buffer <= other.start or other.end + buffer <= one.start, (one, other)
    for booking in confirmed:
        others = [b for b in confirmed if b.id != booking.id]
        busy = [Busy(booth.id, b.start, b.end, b.id) for b in others for booth in b.booths]
        mine = [TimeRange(b.start, b.end) for b in others if b.organizer_id == booking.organizer_id]
        request = BookingRequest(booking.booths, booking.start, booking.end, booking.organizer_id)
        rules.check_booking(request, busy, mine, NOW)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_any_sequence_of_operations_keeps_bookings_sound(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(1) as pool:
        # A thread of its own: the test session's event loop stays untouched.
        pool.submit(asyncio.run, _run(ops, Path(folder))).result()

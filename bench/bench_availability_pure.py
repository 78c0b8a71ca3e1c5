"""Time the pure ``available_slots``: 2 booths (Paris + San Francisco), 90 days, 40 busy ranges.

Prints the median of 20 runs, cold (the opening-hours cache cleared before each run, as for the
first query of a new range) and warm (the same query again, as a busy server mostly sees). Run:

    python bench/bench_availability_pure.py
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.model import Busy  # noqa: E402
from scheduler.rules import available_slots  # noqa: E402
from scheduler.zones import local_span_to_utc  # noqa: E402
from tests.scheduler.factories import PAIR  # noqa: E402

RUNS = 20
NOW = datetime(2027, 2, 26, 9, 0, tzinfo=UTC)
DAY_FROM = date(2027, 3, 1)  # 90 days across both DST changes of spring 2027
DAY_TO = DAY_FROM + timedelta(days=89)


def busy_ranges(count: int = 40) -> list[Busy]:
    rng = random.Random(2027)
    ranges = []
    for booking_id in range(count):
        start = datetime.combine(DAY_FROM, datetime.min.time(), UTC) + timedelta(
            days=rng.randrange(90), hours=rng.randrange(14, 18), minutes=15 * rng.randrange(4)
        )
        booth = rng.choice(PAIR)
        ranges.append(Busy(booth.id, start, start + timedelta(minutes=15 * rng.randrange(1, 9)), booking_id))
    return ranges


def median_ms(busy: list[Busy], *, cold: bool) -> tuple[float, int]:
    timings, slots = [], 0
    for _ in range(RUNS):
        if cold:
            local_span_to_utc.cache_clear()
        began = time.perf_counter()
        slots = len(available_slots(PAIR, DAY_FROM, DAY_TO, timedelta(hours=1), busy, NOW))
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings), slots


def main() -> None:
    busy = busy_ranges()
    available_slots(PAIR, DAY_FROM, DAY_TO, timedelta(hours=1), busy, NOW)  # imports, holiday tables
    cold, slots = median_ms(busy, cold=True)
    warm, _ = median_ms(busy, cold=False)
    print(f"available_slots: 2 booths, 90 days, {len(busy)} busy ranges, 60-minute slots -> {slots} slots")
    print(
        f"median of {RUNS} runs: cold {cold:.2f} ms, warm {warm:.2f} ms (goal <= 20 ms); "
        f"os.cpu_count() = {os.cpu_count()}, Python {sys.version.split()[0]}"
    )


if __name__ == "__main__":
    main()

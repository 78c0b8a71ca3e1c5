"""How long scheduler.ical takes to render a feed of 10,000 bookings. Prints figures; not a test.

    python bench/bench_ical.py [--bookings 10000] [--runs 5]

Goal: a 10,000-booking feed in at most 300 ms (median). Printed, with the machine's core count
(these machines are 2-core and noisy):

* each feed kind (organizer, venue: full details; booth: busy-only) rendered by scheduler.ical,
  cold (render cache cleared before each run: the first request after a restart) and warm (every
  event already rendered once: the usual poll of an unchanged or slightly changed feed);
* the baseline in the same run: the same events built as ``icalendar.Event`` objects and written
  by ``icalendar``'s own ``to_ical``, which is what the module avoids for VEVENTs (see its
  docstring), on a sample scaled up to the full count;
* the output size.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import icalendar  # noqa: E402  (baseline only; the product's icalendar user is scheduler/ical.py)

from scheduler import ical  # noqa: E402
from scheduler.model import BookingStatus, BookingView, Booth, OpeningHours, Venue  # noqa: E402

PARIS = Venue(
    1,
    "La Cantine",
    "Paris",
    "Europe/Paris",
    "FR",
    None,
    OpeningHours({}),
    address="151 rue Montmartre, 75002 Paris",
)
SF = Venue(
    2,
    "Partner Space",
    "San Francisco",
    "America/Los_Angeles",
    "US",
    "CA",
    OpeningHours({}),
    address="Market Street, San Francisco",
)
BOOTHS = (Booth(1, "Cantine A", PARIS), Booth(2, "SF A", SF))


def bookings(n: int) -> list[BookingView]:
    base = datetime(2027, 1, 4, 16, tzinfo=UTC)
    out = []
    for i in range(n):
        start = base + timedelta(minutes=30 * i)
        cancelled = i % 17 == 0
        out.append(
            BookingView(
                id=i,
                uid=f"{i:08d}-5f0c-4e1b-9a3d-booking@sebastian.example",
                title=f"Pitch #{i}: Café Œuvre, seed round; demo — 東京",
                status=BookingStatus.CANCELLED if cancelled else BookingStatus.CONFIRMED,
                start=start,
                end=start + timedelta(minutes=45),
                sequence=i % 3,
                created_at=base - timedelta(days=30),
                updated_at=base - timedelta(days=1, minutes=i % 1000),
                organizer_name=f"Founder {i}",
                organizer_email=f"founder{i}@startup{i % 97}.example",
                organizer_company=f"Startup {i % 97} SAS",
                guests=(f"guest{i}@example.org",),
                booths=BOOTHS,
            )
        )
    return out


def median_ms(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), times


def icalendar_baseline(views: list[BookingView]) -> bytes:
    cal = icalendar.Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", ical.PRODID)
    for v in views:
        ev = icalendar.Event()
        ev.add("uid", v.uid)
        ev.add("dtstamp", v.updated_at)
        ev.add("created", v.created_at)
        ev.add("last-modified", v.updated_at)
        ev.add("sequence", v.sequence)
        ev.add("dtstart", v.start)
        ev.add("dtend", v.end)
        ev.add("status", "CANCELLED" if v.status is BookingStatus.CANCELLED else "CONFIRMED")
        ev.add("transp", "OPAQUE")
        ev.add("summary", v.title)
        ev.add("location", "Cantine A, La Cantine, 151 rue Montmartre, 75002 Paris · SF A, Partner Space")
        ev.add("description", ical.local_times(v))
        cal.add_component(ev)
    return cal.to_ical()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    views = bookings(args.bookings)
    now = datetime(2027, 1, 4, tzinfo=UTC)

    print(
        f"python {platform.python_version()}, icalendar {icalendar.__version__}, "
        f"os.cpu_count()={os.cpu_count()}, {args.bookings} bookings, median of {args.runs}"
    )
    results: dict[tuple[str, str], float] = {}
    kinds: tuple[ical.FeedKind, ...] = ("organizer", "venue", "booth")
    for kind in kinds:
        for state in ("cold", "warm"):
            out: list[bytes] = []

            def render(k: ical.FeedKind = kind, s: str = state, sink: list[bytes] = out) -> None:
                if s == "cold":
                    ical.clear_render_cache()
                sink.append(ical.feed_ics(views, name="Bench", kind=k, now_for_retention=now))

            if state == "warm":
                render()  # fill the cache once, as the first request after a change does
            med, all_ms = median_ms(render, args.runs)
            results[kind, state] = med
            print(
                f"feed_ics kind={kind:9} {state} cache  median {med:7.1f} ms  "
                f"runs {[round(t) for t in all_ms]}  {len(out[-1]) / 1e6:.2f} MB  "
                f"{out[-1].count(b'BEGIN:VEVENT')} events"
            )

    sample = views[: min(len(views), 1000)]
    base_med, _ = median_ms(lambda: icalendar_baseline(sample), max(1, args.runs // 2))
    scaled = base_med * len(views) / len(sample)
    print(
        f"baseline icalendar Event+to_ical: {base_med:.1f} ms for {len(sample)} "
        f"-> ~{scaled:.0f} ms for {len(views)} (scaled)"
    )
    for state in ("cold", "warm"):
        worst = max(v for (_, s), v in results.items() if s == state)
        print(
            f"{state} cache: slowest kind {worst:.1f} ms; goal <= 300 ms: "
            f"{'met' if worst <= 300 else 'NOT met'}; {scaled / worst:.1f}x faster than the baseline"
        )


if __name__ == "__main__":
    main()

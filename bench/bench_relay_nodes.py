"""Relay across two nodes through Redis, against one node, in the same run.

The relay measurement of ``bench_relay.py`` (server CPU per relayed offer/candidate, latency
p50/p99) in three set-ups, fed by the same clients:

- **one node, embedded**: the default, one process on SQLite (the in-process bus);
- **one node, Redis**: one node of a cluster on PostgreSQL and Redis, both booths of each room
  on it (every signal goes through the room's Redis stream and back);
- **two nodes**: two nodes of that cluster, each room's two booths on different nodes (the
  signal is appended by one node and delivered by the other).

CPU is the sum over the nodes' processes (``/proc``); Redis's own CPU is left out (the Redis
server here is shared with other work). The ratios are to the embedded node. Only loopback;
bounded in count and time.

    python bench/bench_relay_nodes.py            # 50 rooms, 3 rounds
    python bench/bench_relay_nodes.py --quick    # 10 rooms, 1 round
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_relay import Booth, Server, Stats, percentile, pump, seed, server_commands  # noqa: E402
from cluster import cluster, postgres_database, redis_prefix  # noqa: E402

from booth_server.cli import event_loop  # noqa: E402


async def open_split(
    session: aiohttp.ClientSession,
    seeded_rooms: list[tuple[int, int, int]],
    keys: list[str],
    urls: tuple[str, str],
) -> tuple[list[Booth], Stats]:
    """Every room's first booth on ``urls[0]`` and its second on ``urls[1]``, joined."""
    stats = Stats()
    booths: list[tuple[Booth, int, str]] = []
    for booking, a, b in seeded_rooms:
        booths += [(Booth(keys[a], stats), booking, urls[0]), (Booth(keys[b], stats), booking, urls[1])]
    await asyncio.gather(*(booth.connect(session, url) for booth, _, url in booths))
    await asyncio.gather(*(booth.join(booking) for booth, booking, _ in booths))
    return [booth for booth, _, _ in booths], stats


async def measure(
    label: str,
    nodes: list[Server],
    booths: list[Booth],
    stats: Stats,
    args: argparse.Namespace,
    counter: list[int],
) -> tuple[list[float], list[float]]:
    """CPU per relayed message for each round, and the latencies of a slower phase."""
    per_message = []
    for round_ in range(args.rounds):
        for node in nodes:
            await node.settle()
        cpu0 = sum(node.cpu() for node in nodes)
        received0 = stats.received
        sent = await pump(booths, stats, args.rate, args.seconds, counter)
        cpu = sum(node.cpu() for node in nodes) - cpu0
        relayed = stats.received - received0
        per_message.append(cpu / max(relayed, 1))
        print(
            f"  round {round_ + 1} {label:20s}: {sent} sent, {relayed} relayed, CPU {cpu:.2f} s, "
            f"{per_message[-1] * 1e6:.1f} us/message"
        )
    stats.latencies.clear()
    await pump(booths, stats, args.latency_rate, args.latency_seconds, counter)
    return per_message, list(stats.latencies)


async def main(args: argparse.Namespace) -> None:
    print(f"cpu_count: {os.cpu_count()}  python {sys.version.split()[0]}  aiohttp {aiohttp.__version__}")
    print(
        f"{args.rooms} rooms, each booth sending {args.rate:g} msg/s for {args.seconds:g} s per round, "
        f"{args.rounds} rounds; latency at {args.latency_rate:g} msg/s per booth for {args.latency_seconds:g} s"
    )
    results: dict[str, tuple[list[float], list[float]]] = {}
    counter = [0]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        with tempfile.TemporaryDirectory(prefix="bench-nodes-") as tmp:
            now = datetime.now(UTC)
            seeded = await seed(Path(tmp) / "embedded.db", 2 * args.rooms, args.rooms, now)
            command, _ = server_commands(sys.executable, seeded.url)
            node = Server("embedded", command)
            try:
                await node.ready(session)
                booths, stats = await open_split(session, seeded.rooms, seeded.keys, (node.url, node.url))
                results["one node, embedded"] = await measure(
                    "one node, embedded", [node], booths, stats, args, counter
                )
                for booth in booths:
                    await booth.close()
            finally:
                node.stop()
            async with postgres_database() as database, redis_prefix() as prefix:
                seeded = await seed(database, 4 * args.rooms, 2 * args.rooms, now)
                async with cluster(session, database, prefix, Path(tmp)) as nodes:
                    a, b = nodes.nodes
                    half = args.rooms
                    booths, stats = await open_split(
                        session, seeded.rooms[:half], seeded.keys, (a.url, a.url)
                    )
                    results["one node, Redis"] = await measure(
                        "one node, Redis", [a, b], booths, stats, args, counter
                    )
                    for booth in booths:
                        await booth.close()
                    booths, stats = await open_split(
                        session, seeded.rooms[half:], seeded.keys, (a.url, b.url)
                    )
                    results["two nodes, Redis"] = await measure(
                        "two nodes, Redis", [a, b], booths, stats, args, counter
                    )
                    for booth in booths:
                        await booth.close()
    base = statistics.median(results["one node, embedded"][0])
    print("\n  median CPU per relayed message (all nodes), ratio to the embedded node, latency:")
    for label, (cpu, latencies) in results.items():
        median = statistics.median(cpu)
        print(
            f"  {label:20s}: {median * 1e6:6.1f} us/message, {median / base:.2f}x; latency p50 "
            f"{percentile(latencies, 0.5) * 1000:.2f} ms, p99 {percentile(latencies, 0.99) * 1000:.2f} ms"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 rooms, one short round")
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=5.0, help="messages/s per booth in a CPU round")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-rate", type=float, default=0.5)
    parser.add_argument("--latency-seconds", type=float, default=8.0)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    if args.quick:
        args.rooms, args.seconds, args.rounds, args.latency_seconds = 10, 2.0, 1, 3.0
    return args


if __name__ == "__main__":
    arguments = parse_args()
    started = time.perf_counter()
    event_loop().run_until_complete(asyncio.wait_for(main(arguments), arguments.max_seconds))
    print(f"({time.perf_counter() - started:.0f} s)")

"""Join storm: thousands of booths connecting at once, against a bare aiohttp relay accepting as many.

What a restart of the embedded default (or a load balancer moving every booth at once) asks of
a server: N booths open their socket at the same instant, send ``hello`` with their device key,
and wait for ``welcome`` and then their ``schedule``. The figure is the time until every booth
has both (and p50/p99 per booth, authenticated and with a schedule). The baseline, in the same
run, is the bare relay of ``bench_relay.py`` (``--serve-bare``): it accepts the same N sockets
and answers each first frame with a welcome, with no database behind it.

Each round starts both servers afresh (a storm meets a cold server: empty caches). The project's
server runs on a temporary SQLite database seeded by ``bench_relay.seed``: N booths with device
keys, and one live booking for every two booths, so that half of the schedules list a session.
Only loopback; bounded in count and time.

    python bench/bench_join_storm.py            # 5,000 booths, 3 rounds
    python bench/bench_join_storm.py --quick    # 500 booths, 1 round: a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_relay import SIGNALLING_PATH, Server, percentile, seed, server_commands  # noqa: E402

from booth_server.cli import event_loop  # noqa: E402


@dataclass
class Storm:
    """What one storm measured, in seconds from its start."""

    authenticated: list[float] = field(default_factory=list)
    scheduled: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def done(self) -> float:
        finished = self.scheduled or self.authenticated
        return max(finished) if finished else float("nan")


async def one_booth(
    session: aiohttp.ClientSession,
    url: str,
    key: str,
    wants_schedule: bool,
    started: float,
    storm: Storm,
    sockets: list[aiohttp.ClientWebSocketResponse],
) -> None:
    try:
        ws = await session.ws_connect(
            url.replace("http", "ws", 1) + SIGNALLING_PATH,
            headers={"Authorization": f"Device {key}"},
            max_msg_size=0,
            heartbeat=None,
        )
        sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "version": 1, "device_key": key}))
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                storm.failures.append(f"socket closed: {frame.type.name} {frame.data!r}")
                return
            kind = json.loads(frame.data).get("type")
            if kind == "welcome":
                storm.authenticated.append(time.perf_counter() - started)
                if not wants_schedule:
                    return
            elif kind == "schedule":
                storm.scheduled.append(time.perf_counter() - started)
                return
            elif kind == "error":
                storm.failures.append(frame.data)
                return
    except (aiohttp.ClientError, OSError) as exc:
        storm.failures.append(f"{type(exc).__name__}: {exc}")


async def storm(
    session: aiohttp.ClientSession, server: Server, keys: list[str], wants_schedule: bool, within: float
) -> Storm:
    """Every booth at once; the sockets stay open until all are done, then close."""
    result = Storm()
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    started = time.perf_counter()
    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(one_booth(session, server.url, k, wants_schedule, started, result, sockets) for k in keys)
            ),
            within,
        )
    except TimeoutError:
        result.failures.append(f"not done after {within:g} s")
    for i in range(0, len(sockets), 500):
        await asyncio.gather(*(ws.close() for ws in sockets[i : i + 500]))
    return result


def describe(label: str, measured: Storm, n: int) -> str:
    parts = [f"{label:8s}: all {n} done in {measured.done:.2f} s"]
    if measured.authenticated:
        parts.append(
            f"welcome p50 {percentile(measured.authenticated, 0.5):.2f} s, "
            f"p99 {percentile(measured.authenticated, 0.99):.2f} s"
        )
    if measured.scheduled:
        parts.append(
            f"schedule p50 {percentile(measured.scheduled, 0.5):.2f} s, "
            f"p99 {percentile(measured.scheduled, 0.99):.2f} s"
        )
    if measured.failures:
        parts.append(f"{len(measured.failures)} FAILED, e.g. {measured.failures[0][:200]}")
    return "; ".join(parts)


async def main(args: argparse.Namespace) -> None:
    print(f"cpu_count: {os.cpu_count()}  python {sys.version.split()[0]}  aiohttp {aiohttp.__version__}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.booths + 4096))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the servers inherit it
    print(f"open files limit: {wanted}")
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        started = time.perf_counter()
        seeded = await seed(Path(tmp) / "bench.db", args.booths, args.booths // 2, datetime.now(UTC))
        print(
            f"seeded {args.booths} booths with device keys and {args.booths // 2} live bookings "
            f"in {time.perf_counter() - started:.1f} s"
        )
        project_cmd, bare_cmd = server_commands(sys.executable, seeded.url)
        bare_keys = [f"bare-storm{i}-a" for i in range(args.booths)]
        print(
            f"\n== Join storm: {args.booths} booths connecting at once, hello with a device key, "
            f"until every one has its welcome and schedule; {args.rounds} rounds, fresh servers =="
        )
        totals: dict[str, list[float]] = {"project": [], "bare": []}
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        # No connect timeout of the client's own: a storm's last sockets wait in the listen
        # backlog for seconds, alike for both servers; ``--within`` bounds the storm.
        timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for round_ in range(args.rounds):
                for label, command, keys in (
                    ("project", project_cmd, seeded.keys),
                    ("bare", bare_cmd, bare_keys),
                ):
                    server = Server(label, command)
                    try:
                        await server.ready(session)
                        await server.settle()
                        measured = await storm(session, server, keys, label == "project", args.within)
                    finally:
                        server.stop()
                    totals[label].append(measured.done)
                    print(f"  round {round_ + 1} {describe(label, measured, args.booths)}")
        project, bare = statistics.median(totals["project"]), statistics.median(totals["bare"])
        print(
            f"  median: project {project:.2f} s, bare {bare:.2f} s, ratio {project / bare:.2f}x (goal <= 2x; "
            f"before the device-key and schedule batching: 5.1x)"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="500 booths, one round: a smoke test")
    parser.add_argument("--booths", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--within", type=float, default=120, help="give up on a storm after this long")
    parser.add_argument("--max-seconds", type=float, default=1200, help="give up after this long")
    args = parser.parse_args()
    if args.quick:
        args.booths, args.rounds = 500, 1
    return args


if __name__ == "__main__":
    arguments = parse_args()
    event_loop().run_until_complete(asyncio.wait_for(main(arguments), arguments.max_seconds))

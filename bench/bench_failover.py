"""Failover: a node killed with SIGKILL under live rooms, and the booths that lose it resuming on the other.

Two nodes of the project's server on PostgreSQL and Redis (``cluster.py``), N live rooms whose
two booths are on different nodes, every booth sending candidates to its partner all along.
Then node A is killed with SIGKILL. Each booth whose socket died reconnects at once to node B
(as a load balancer would send it) with its device key, its resume token and the last ``seq`` it
saw, and sends a fresh candidate as soon as it is welcomed back.

Figures, from the kill:

- **attached again**: until the booth's ``welcome`` with ``resumed: true`` (p50, p99);
- **room resumed**: until its partner received that fresh candidate, through node B (p50, p99);
- **lost / duplicated**: the ``seq`` numbers each booth saw over the whole run, on both of its
  sockets: a number missing between the first and the last is lost, one seen twice duplicated;
  also every candidate a booth sent that its partner never received, and how many of those
  were sent to node A in the moment before it died (the protocol's "in flight at a crash").

The baseline, in the same run, is the same booths' first connection to node A (``hello`` to
``welcome``, all at once) before any room was joined. Only loopback; bounded in count and time.

    python bench/bench_failover.py            # 250 rooms (500 booths)
    python bench/bench_failover.py --quick    # 25 rooms: a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_relay import SIGNALLING_PATH, candidate, message_number, percentile, seed  # noqa: E402
from cluster import cluster, postgres_database, redis_prefix  # noqa: E402

from booth_server.cli import event_loop  # noqa: E402


@dataclass
class Booth:
    key: str
    booking: int
    url: str
    seqs: list[int] = field(default_factory=list)
    received: set[int] = field(default_factory=set)  # candidate numbers from the partner
    duplicates_received: int = 0
    sent: dict[int, float] = field(default_factory=dict)  # candidate number -> when sent
    resume_token: str = ""
    ws: aiohttp.ClientWebSocketResponse | None = None
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    welcome: dict[str, Any] = field(default_factory=dict)
    partner_here: asyncio.Event = field(default_factory=asyncio.Event)
    received_at: dict[int, float] = field(default_factory=dict)
    awaited: dict[int, asyncio.Event] = field(default_factory=dict)  # candidate number -> set on arrival
    errors: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int:
        return max(self.seqs, default=0)

    async def connect(self, session: aiohttp.ClientSession, resume: bool = False) -> None:
        self.welcomed.clear()
        self.ws = await session.ws_connect(
            self.url.replace("http", "ws", 1) + SIGNALLING_PATH,
            headers={"Authorization": f"Device {self.key}"},
            max_msg_size=0,
        )
        self.reader = asyncio.ensure_future(self._read(self.ws))
        hello: dict[str, Any] = {"type": "hello", "version": 1, "device_key": self.key}
        if resume:
            hello |= {"resume_token": self.resume_token, "last_seq": self.last_seq}
        await self.ws.send_str(json.dumps(hello))
        await asyncio.wait_for(self.welcomed.wait(), 30)

    async def send_candidate(self, n: int) -> bool:
        ws = self.ws
        if ws is None or ws.closed or not self.welcomed.is_set():
            return False
        try:
            await ws.send_str(
                json.dumps({"type": "candidate", "booking_id": self.booking, "candidate": candidate(n)})
            )
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            return False
        self.sent[n] = time.perf_counter()
        return True

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            msg = json.loads(frame.data)
            kind = msg.get("type")
            if "seq" in msg:
                self.seqs.append(msg["seq"])
            if kind == "welcome":
                self.welcome = msg
                self.resume_token = msg["resume_token"]
                self.welcomed.set()
            elif kind == "peer_status" and msg.get("state") == "joined":
                self.partner_here.set()
            elif kind == "error":
                self.errors.append(msg.get("code", "?"))
            n = message_number(msg)
            if n is not None:
                if n in self.received:
                    self.duplicates_received += 1
                self.received.add(n)
                self.received_at[n] = time.perf_counter()
                if n in self.awaited:
                    self.awaited.pop(n).set()


def seq_faults(seqs: list[int]) -> tuple[int, int]:
    """(lost, duplicated) in the numbers one booth saw."""
    if not seqs:
        return 0, 0
    distinct = set(seqs)
    return (max(distinct) - min(distinct) + 1) - len(distinct), len(seqs) - len(distinct)


async def main(args: argparse.Namespace) -> None:
    print(f"cpu_count: {os.cpu_count()}  python {sys.version.split()[0]}  aiohttp {aiohttp.__version__}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8 * args.rooms + 4096)), hard))
    rooms = args.rooms
    async with postgres_database() as database, redis_prefix() as prefix:
        started = time.perf_counter()
        seeded = await seed(database, 2 * rooms, rooms, datetime.now(UTC))
        print(
            f"seeded {2 * rooms} booths and {rooms} live bookings on PostgreSQL in {time.perf_counter() - started:.1f} s"
        )
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                cluster(session, database, prefix, Path(tmp)) as nodes,
            ):
                a, b = nodes.nodes
                movers = [Booth(seeded.keys[i], booking, a.url) for booking, i, _ in seeded.rooms]
                stayers = [Booth(seeded.keys[j], booking, b.url) for booking, _, j in seeded.rooms]
                partner = {id(m): s for m, s in zip(movers, stayers, strict=True)}
                partner |= {id(s): m for m, s in zip(movers, stayers, strict=True)}

                t0 = time.perf_counter()
                baseline: list[float] = []

                async def first(booth: Booth) -> None:
                    await booth.connect(session)
                    baseline.append(time.perf_counter() - t0)

                await asyncio.gather(*(first(m) for m in movers))
                await asyncio.gather(*(s.connect(session) for s in stayers))
                for booth in movers + stayers:
                    assert booth.ws is not None
                    await booth.ws.send_str(json.dumps({"type": "join", "booking_id": booth.booking}))
                joined_at = time.perf_counter()
                try:
                    await asyncio.wait_for(
                        asyncio.gather(*(x.partner_here.wait() for x in movers + stayers)), 120
                    )
                except TimeoutError:
                    waiting = [x for x in movers + stayers if not x.partner_here.is_set()]
                    errors = sorted({e for x in waiting for e in x.errors})
                    for node in nodes.nodes:
                        assert node.log is not None
                        text = node.log.read_text(errors="replace")
                        print(f"--- {node.label}\n{text[-4000:]}")
                    raise SystemExit(
                        f"{len(waiting)} booths never saw their partner join; errors: {errors}"
                    ) from None
                print(f"{rooms} rooms joined across the two nodes in {time.perf_counter() - joined_at:.1f} s")
                print(
                    f"\n== Failover: {2 * rooms} booths in {rooms} live rooms, each room's booths on node A and "
                    f"node B, every booth sending {args.rate:g} candidates/s; node A killed with SIGKILL "
                    f"after {args.before:g} s =="
                )

                counter = iter(range(1, 10**9))
                sending = True

                async def traffic(booth: Booth) -> None:
                    period = 1 / args.rate
                    await asyncio.sleep(period * (id(booth) % 997) / 997)  # spread over the period
                    while sending:
                        await booth.send_candidate(next(counter))
                        await asyncio.sleep(period)

                senders = [asyncio.ensure_future(traffic(x)) for x in movers + stayers]
                await asyncio.sleep(args.before)
                killed_at = time.perf_counter()
                nodes.kill(a)
                attached: list[float] = []
                resumed: list[float] = []
                failures: list[str] = []

                async def move(booth: Booth) -> None:
                    assert booth.reader is not None
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(booth.reader, 10)  # the socket to node A is gone
                    booth.url = b.url
                    try:
                        await booth.connect(session, resume=True)
                    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                        failures.append(f"reconnect: {type(exc).__name__} {exc}")
                        return
                    if booth.welcome.get("resumed") is not True:
                        failures.append(f"not resumed: {booth.errors[-1:]}")
                        return
                    attached.append(time.perf_counter() - killed_at)
                    probe = next(counter)
                    other = partner[id(booth)]
                    arrived = other.awaited[probe] = asyncio.Event()
                    await booth.send_candidate(probe)
                    try:
                        await asyncio.wait_for(arrived.wait(), 30)
                    except TimeoutError:
                        failures.append("the partner never got the first candidate after the resume")
                    else:
                        resumed.append(other.received_at[probe] - killed_at)

                await asyncio.wait_for(asyncio.gather(*(move(m) for m in movers)), 60)
                await asyncio.sleep(args.after)
                sending = False
                await asyncio.gather(*senders)
                await asyncio.sleep(2)  # the last candidates on their way

                lost_seq = duplicated_seq = 0
                for booth in movers + stayers:
                    lost, dup = seq_faults(booth.seqs)
                    lost_seq += lost
                    duplicated_seq += dup + booth.duplicates_received
                unrelayed = in_flight = 0
                for booth in movers + stayers:
                    other = partner[id(booth)]
                    for n, at in booth.sent.items():
                        if n not in other.received:
                            unrelayed += 1
                            if booth in movers and killed_at - args.in_flight <= at <= killed_at:
                                in_flight += 1
                print(
                    f"  baseline, the same {rooms} booths' first connection to node A, all at once: welcome p50 "
                    f"{percentile(baseline, 0.5) * 1000:.0f} ms, p99 {percentile(baseline, 0.99) * 1000:.0f} ms"
                )
                if attached:
                    print(
                        f"  attached again on node B ({len(attached)}/{rooms} booths): p50 "
                        f"{percentile(attached, 0.5) * 1000:.0f} ms, p99 {percentile(attached, 0.99) * 1000:.0f} ms "
                        f"after the kill ({percentile(attached, 0.99) / percentile(baseline, 0.99):.2f}x the baseline's p99)"
                    )
                if resumed:
                    print(
                        f"  room resumed ({len(resumed)}/{rooms} rooms): p50 {percentile(resumed, 0.5) * 1000:.0f} ms, "
                        f"p99 {percentile(resumed, 0.99) * 1000:.0f} ms after the kill (goal p99 <= 3 s)"
                    )
                sent = sum(len(x.sent) for x in movers + stayers)
                print(
                    f"  seq numbers seen by the {2 * rooms} booths: {lost_seq} lost, {duplicated_seq} duplicated "
                    f"(goal 0 and 0); candidates sent {sent}, never relayed {unrelayed}, of which "
                    f"{in_flight} were sent to node A in its last {args.in_flight * 1000:.0f} ms"
                )
                if failures:
                    print(f"  FAILED: {len(failures)}, e.g. {failures[:3]}")
                for booth in movers + stayers:
                    if booth.ws is not None:
                        await booth.ws.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="25 rooms: a smoke test")
    parser.add_argument("--rooms", type=int, default=250)
    parser.add_argument("--rate", type=float, default=2.0, help="candidates/s per booth")
    parser.add_argument("--before", type=float, default=3.0, help="seconds of traffic before the kill")
    parser.add_argument("--after", type=float, default=3.0, help="seconds of traffic after the last resume")
    parser.add_argument(
        "--in-flight", type=float, default=0.1, help="seconds before the kill counted as in flight"
    )
    parser.add_argument("--max-seconds", type=float, default=600)
    args = parser.parse_args()
    if args.quick:
        args.rooms = 25
    return args


if __name__ == "__main__":
    arguments = parse_args()
    event_loop().run_until_complete(asyncio.wait_for(main(arguments), arguments.max_seconds))

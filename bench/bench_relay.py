"""Signalling relay benchmark: the project's server against a bare aiohttp websocket relay.

Both run as subprocesses on 127.0.0.1 in the same run, fed by the same clients (this process):

- **CPU per relayed message**: N ``offer``/``candidate`` messages between the two booths of
  booked rooms; the server process's CPU time (``/proc/PID/stat`` utime + stime) over the
  messages it relayed. Reported as a ratio to the bare relay (goal: at most 1.25x).
- **Idle memory per connected booth**: 5,000 authenticated, idle booth sockets; the growth of
  the server's RSS and PSS divided by the number of sockets (goal: at most 24 KiB).
- **Relay latency** p50 and p99 at 100 and 1,000 connected booths (50 and 500 rooms), each
  booth sending a few candidates per second.

The bare relay (``--serve-bare PORT``, the same file) pairs two sockets by the key in their
first frame and forwards text frames unparsed: the least a relay can do with aiohttp. The
project's server gets a temporary SQLite database seeded directly through ``scheduler.tables``:
booths with device keys, and bookings live now. Only loopback; bounded in count and time.

    python bench/bench_relay.py            # full run, a few minutes
    python bench/bench_relay.py --quick    # smaller counts, for a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

THIS_FILE = Path(__file__).resolve()
ROOT = THIS_FILE.parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from booth_server.cli import LISTEN_BACKLOG, event_loop  # noqa: E402

SIGNALLING_PATH = "/api/v1/signalling"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
#: A Chrome-sized offer (about 3 KB): the relay copies what it is given, so size matters a little.
SDP_BODY = "".join(
    f"a=rtpmap:{96 + i} VP8/90000\r\na=rtcp-fb:{96 + i} nack\r\na=rtcp-fb:{96 + i} goog-remb\r\n"
    for i in range(24)
)


def sdp(n: int) -> str:
    return (
        f"v=0\r\no=- {n} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" + SDP_BODY
    )


def candidate(n: int) -> dict[str, Any]:
    return {
        "candidate": f"candidate:{n} 1 udp 2122260223 127.0.0.1 {40000 + n % 20000} typ host generation 0",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


def message_number(msg: dict[str, Any]) -> int | None:
    """The number a sender put in a relayed offer or candidate."""
    if msg.get("type") == "candidate" and msg.get("candidate"):
        return int(msg["candidate"]["candidate"].split()[0].removeprefix("candidate:"))
    if msg.get("type") == "offer":
        return int(msg["sdp"].split("\r\n", 2)[1].split()[1])
    return None


# --- the bare relay (a subprocess) -------------------------------------------------------------


def serve_bare(port: int) -> None:
    """Two sockets per room, paired by the ``device_key`` of their first frame; text forwarded as is."""
    sockets: dict[str, web.WebSocketResponse] = {}

    async def relay(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        first = await ws.receive()
        if first.type != aiohttp.WSMsgType.TEXT:
            return ws
        key = json.loads(first.data)["device_key"]  # "bare-<room>-<a|b>"
        partner = key[:-1] + ("b" if key.endswith("a") else "a")
        sockets[key] = ws
        await ws.send_str('{"type": "welcome"}')
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    other = sockets.get(partner)
                    if other is not None:
                        await other.send_str(frame.data)
        finally:
            if sockets.get(key) is ws:
                del sockets[key]
        return ws

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get(SIGNALLING_PATH, relay)
    app.router.add_get("/healthz", healthz)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        loop=event_loop(),
        print=None,
        access_log=None,
        backlog=LISTEN_BACKLOG,
    )


# --- the project's server (a subprocess) -------------------------------------------------------


@dataclass
class Seeded:
    url: str
    keys: list[str]  # device key per booth, in booth order
    rooms: list[tuple[int, int, int]]  # (booking id, booth index a, booth index b)
    idle: list[int]  # indexes of booths without bookings


async def seed(path: Path | str, booths: int, rooms: int, now: datetime) -> Seeded:
    """Booths with device keys in two venues, and ``rooms`` bookings live now, written directly
    to a SQLite file at ``path``, or to the database of URL ``path``."""
    from scheduler.database import Database
    from scheduler.tables import AccountRow, BookingRow, BoothHoldRow, BoothRow, DeviceKeyRow, VenueRow

    url = path if isinstance(path, str) else f"sqlite:///{path}"
    db = Database(url)
    await db.migrate()
    hours = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    keys = [f"dk_bench{i:05d}_{secrets.token_urlsafe(24)}" for i in range(booths)]
    booked: list[tuple[int, int, int]] = []
    async with db.write() as session:
        paris = VenueRow(
            name="Bench Paris",
            city="Paris",
            timezone="Europe/Paris",
            country="FR",
            subdivision=None,
            address="",
            opening_hours=hours,
            rules={},
        )
        sf = VenueRow(
            name="Bench San Francisco",
            city="San Francisco",
            timezone="America/Los_Angeles",
            country="US",
            subdivision="CA",
            address="",
            opening_hours=hours,
            rules={},
        )
        organizer = AccountRow(
            email="bench@bench.invalid",
            name="Bench",
            company="",
            role="admin",
            venue_id=None,
            password_hash="!",
            created_at=now,
        )
        session.add_all([paris, sf, organizer])
        await session.flush()
        rows = [BoothRow(venue_id=(paris if i % 2 == 0 else sf).id, name=f"Booth {i}") for i in range(booths)]
        session.add_all(rows)
        await session.flush()
        session.add_all(
            DeviceKeyRow(
                booth_id=row.id,
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                created_by=None,
                created_at=now,
            )
            for row, key in zip(rows, keys, strict=True)
        )
        start, end = now - timedelta(minutes=1), now + timedelta(hours=2)
        for r in range(rooms):
            a, b = 2 * r, 2 * r + 1
            booking = BookingRow(
                uid=f"bench-{r}@sebastian",
                title=f"Bench {r}",
                organizer_id=organizer.id,
                status="confirmed",
                start_at=start,
                end_at=end,
                sequence=0,
                guests=[],
                created_at=now,
                updated_at=now,
            )
            booking.holds = [
                BoothHoldRow(
                    booth_id=rows[i].id,
                    position=p,
                    start_at=start,
                    blocked_until=end + timedelta(minutes=10),
                    active=True,
                )
                for p, i in enumerate((a, b))
            ]
            session.add(booking)
            await session.flush()
            booked.append((booking.id, a, b))
    await db.dispose()
    return Seeded(url, keys, booked, list(range(2 * rooms, booths)))


def server_commands(python: str, database_url: str) -> tuple[list[str], list[str]]:
    """The project's server on ``database_url`` and the bare relay, without their ports."""
    project = [
        python,
        "-m",
        "booth_server.cli",
        "serve",
        "--database",
        database_url,
        "--log-level",
        "WARNING",
    ]
    return project, [python, str(THIS_FILE), "--serve-bare"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess on loopback: CPU time and memory read from /proc."""

    def __init__(
        self, label: str, command: list[str], env: dict[str, str] | None = None, log: Path | None = None
    ) -> None:
        """``log``: where its output goes (a node that runs long must not fill a pipe)."""
        self.label = label
        self.port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)] if label != "bare" else [*command, str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL if log is None else log.open("ab"),
            stderr=subprocess.PIPE if log is None else subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, session: aiohttp.ClientSession, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                if self.log is not None:
                    stderr = self.log.read_text(errors="replace")
                raise RuntimeError(f"{self.label} server exited: {stderr[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(self.url + "/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.label} server did not start in {within} s")

    def cpu(self) -> float:
        """Seconds of CPU the server has used, user and system, all threads: from schedstat
        (nanoseconds) where the kernel has it, else /proc/PID/stat (clock ticks, 10 ms)."""
        try:
            return (
                sum(
                    int((task / "schedstat").read_text().split()[0])
                    for task in Path(f"/proc/{self.process.pid}/task").iterdir()
                )
                / 1e9
            )
        except (OSError, ValueError):
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK

    async def settle(self, idle_share: float = 0.05, within: float = 60) -> float:
        """Wait until the server is nearly idle (after connecting many booths it is still
        building their schedules); returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            before = self.cpu()
            await asyncio.sleep(0.5)
            if self.cpu() - before <= idle_share * 0.5:
                break
        return time.monotonic() - started

    def memory(self) -> tuple[int, int]:
        """(RSS, PSS) in bytes."""
        rss = int(Path(f"/proc/{self.process.pid}/statm").read_text().split()[1]) * PAGE
        pss = rss
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
        return rss, pss

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- clients -----------------------------------------------------------------------------------


@dataclass
class Stats:
    received: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent_at: dict[int, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Booth:
    """One booth socket: hello, optionally join, then relay traffic; a reader task per socket."""

    def __init__(self, key: str, stats: Stats) -> None:
        self.key = key
        self.stats = stats
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.booking_id = 0
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, session: aiohttp.ClientSession, url: str) -> None:
        # The project's server wants a non-browser client's key in the upgrade's Authorization header.
        headers = {"Authorization": f"Device {self.key}"}
        self.ws = await session.ws_connect(
            url.replace("http", "ws", 1) + SIGNALLING_PATH, headers=headers, max_msg_size=0
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        welcome = self.expect(lambda m: m.get("type") in ("welcome", "error"))
        await self.ws.send_str(json.dumps({"type": "hello", "version": 1, "device_key": self.key}))
        answer = await asyncio.wait_for(welcome, 30)
        if answer["type"] != "welcome":
            raise RuntimeError(f"hello refused: {answer}")

    async def join(self, booking_id: int) -> None:
        self.booking_id = booking_id
        partner_here = self.expect(lambda m: m.get("type") == "peer_status" and m.get("state") == "joined")
        await self.send({"type": "join", "booking_id": booking_id})
        await asyncio.wait_for(partner_here, 60)

    def expect(self, test: Callable[[dict[str, Any]], bool]) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((test, future))
        return future

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(msg))

    async def send_numbered(self, n: int, offer: bool) -> None:
        msg: dict[str, Any] = (
            {"type": "offer", "booking_id": self.booking_id, "sdp": sdp(n)}
            if offer
            else {"type": "candidate", "booking_id": self.booking_id, "candidate": candidate(n)}
        )
        self.stats.sent_at[n] = time.perf_counter()
        await self.send(msg)

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.perf_counter()
            msg = json.loads(frame.data)
            n = message_number(msg)
            if n is not None:
                sent = self.stats.sent_at.pop(n, None)
                if sent is not None:
                    self.stats.latencies.append(now - sent)
                self.stats.received += 1
                self.stats.changed.set()
                continue
            if msg.get("type") == "error":
                self.stats.errors[msg.get("code", "?")] += 1
            for waiter in list(self._waiters):
                test, future = waiter
                if not future.done() and test(msg):
                    future.set_result(msg)
                    self._waiters.remove(waiter)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def gather_limited(jobs: list[Awaitable[Any]], limit: int = 100) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Awaitable[Any]) -> None:
        async with semaphore:
            await job

    await asyncio.gather(*(one(job) for job in jobs))


@dataclass
class Rooms:
    """Connected, joined pairs of booths against one server."""

    server: Server
    pairs: list[tuple[Booth, Booth]]
    stats: Stats

    @property
    def booths(self) -> list[Booth]:
        return [booth for pair in self.pairs for booth in pair]


async def open_rooms(
    session: aiohttp.ClientSession,
    server: Server,
    seeded: Seeded | None,
    first: int,
    count: int,
    stats: Stats,
) -> list[tuple[Booth, Booth]]:
    """Connect and join rooms ``first .. first + count - 1``."""
    pairs = []
    for r in range(first, first + count):
        if seeded is None:
            pairs.append((Booth(f"bare-{r}-a", stats), Booth(f"bare-{r}-b", stats)))
        else:
            _booking, a, b = seeded.rooms[r]
            pairs.append((Booth(seeded.keys[a], stats), Booth(seeded.keys[b], stats)))
    await gather_limited([booth.connect(session, server.url) for pair in pairs for booth in pair])
    if seeded is not None:
        await gather_limited(
            [
                booth.join(seeded.rooms[r][0])
                for r, pair in zip(range(first, first + count), pairs, strict=True)
                for booth in pair
            ]
        )
    return pairs


async def pump(
    booths: list[Booth], stats: Stats, rate: float, seconds: float, counter: list[int], offer_every: int = 10
) -> int:
    """Each booth sends ``rate`` messages/s for ``seconds`` (one offer in ``offer_every``), the
    booths spread evenly over each period rather than all at once; then waits until every
    message was relayed (at most 30 s). Returns how many were sent."""
    loop = asyncio.get_running_loop()
    period = 1.0 / rate
    schedule = sorted(
        (k * period + i * period / len(booths), i)
        for i in range(len(booths))
        for k in range(max(1, round(seconds * rate)))
    )
    before = stats.received
    start = loop.time()
    sent = 0
    for due, i in schedule:
        delay = start + due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        counter[0] += 1
        await booths[i].send_numbered(counter[0], offer=counter[0] % offer_every == 0)
        sent += 1
    deadline = loop.time() + 30
    while stats.received - before < sent and loop.time() < deadline:
        stats.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stats.changed.wait(), 1)
    return sent


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- phases ------------------------------------------------------------------------------------


async def cpu_phase(rooms: dict[str, Rooms], rounds: int, rate: float, seconds: float) -> None:
    print(
        f"\n== CPU per relayed message: {len(rooms['project'].pairs)} rooms, each booth sending "
        f"{rate:g} msg/s for {seconds:g} s (1 offer of {len(sdp(0))} B of SDP per 9 candidates), {rounds} rounds =="
    )
    per_message: dict[str, list[float]] = {label: [] for label in rooms}
    counter = [0]
    for round_ in range(rounds):
        for label, group in rooms.items():
            await group.server.settle()
            cpu0 = group.server.cpu()
            received0 = group.stats.received
            sent = await pump(group.booths, group.stats, rate, seconds, counter)
            cpu = group.server.cpu() - cpu0
            relayed = group.stats.received - received0
            per_message[label].append(cpu / max(relayed, 1))
            print(
                f"  round {round_ + 1} {label:8s}: {sent} sent, {relayed} relayed, server CPU {cpu:.2f} s, "
                f"{cpu / max(relayed, 1) * 1e6:.1f} us/message"
            )
    project, bare = (statistics.median(per_message[k]) for k in ("project", "bare"))
    ratios = sorted(p / b for p, b in zip(per_message["project"], per_message["bare"], strict=True))
    print(
        f"  median: project {project * 1e6:.1f} us/message, bare {bare * 1e6:.1f} us/message, "
        f"ratio {project / bare:.2f}x (goal <= 1.25x); round ratios {ratios[0]:.2f}-{ratios[-1]:.2f}x"
    )
    errors = rooms["project"].stats.errors
    if errors:
        print(f"  errors the project's server sent: {dict(errors)}")
    codec_costs()


def per_call(function: Callable[[], Any], repeat: int = 2000) -> float:
    """Seconds per call, the median of five batches (hot: in a loop, caches warm)."""
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat // 5):
            function()
        batches.append((time.perf_counter() - started) / (repeat // 5))
    return statistics.median(batches)


def relay_steps() -> dict[str, Callable[[], Any]]:
    """The server's relay path of one candidate without a socket (first), then the steps of
    it that any relay which validates what it relays must take: parse, check, encode, and
    the clock the room compares with the slot's end.

    The path is the embedded default's: ``signalling._on_text`` hands the checked signal to a
    :class:`~booth_server.node.SignallingNode` whose core relays it in the room and returns the
    partner's copy, which the node sends (one process: a signal is no entry of the room's log).
    The two booths enter the room through the core's public events (``hello``, ``join``), as a
    socket's would."""
    import orjson

    from booth_server.bus import InProcessBus
    from booth_server.clock import Clock
    from booth_server.connection import Connection, Timings
    from booth_server.metrics import Metrics
    from booth_server.node import SignallingNode
    from booth_server.signalling import SIGNAL_VALIDATORS, _on_text
    from scheduler.database import Database
    from scheduler.room_logs import RoomLogs
    from webrtc import messages, turn
    from webrtc.core import BookingInfo, Hello

    class Socket:
        async def send_frame(self, data: bytes, opcode: int) -> None:
            pass

    clock, metrics = Clock(), Metrics()
    # Never opened: without a started bus there is no writer task, only the pending entries.
    bus = InProcessBus(RoomLogs(Database(f"sqlite:///{tempfile.gettempdir()}/bench-relay-steps.db")))
    node = SignallingNode(
        node_id="bench",
        clock=clock,
        store=None,  # type: ignore[arg-type]  # a relay never reads the scheduler
        turn_config=turn.TurnConfig(stun_urls=(), turn_urls=(), secret=None),
        metrics=metrics,
        timings=Timings(),
        bus=bus,
    )
    core, now = node.core, clock.now()
    booking = BookingInfo(7, (1, 2), now - timedelta(minutes=1), now + timedelta(hours=1))
    connections = []
    for booth in (1, 2):
        conn = Connection(Socket(), metrics, 0.0)  # type: ignore[arg-type]
        node.opened(conn)
        conn.booth_id = booth
        core.hello(conn.id, Hello(booth, booth, "st_bench", now, "rt_bench", "hash", None), now)
        core.join(conn.id, booking, None, now)
        conn.state = core.conn(conn.id)
        connections.append(conn)
    core.take_actions()  # welcomes, schedules to build, peer_status: not the relay's part
    data = json.dumps({"type": "candidate", "booking_id": 7, "candidate": candidate(7)}).encode()
    wire = orjson.loads(data)
    validator = SIGNAL_VALIDATORS["candidate"]
    paris = connections[0]

    def relay_one() -> None:
        paris.limiter._messages._tokens = 100.0  # a benchmark loop is not a booth over its rate
        _on_text(None, node, clock, paris, data)  # type: ignore[arg-type]

    return {
        "relay path": relay_one,
        "orjson.loads": lambda: orjson.loads(data),
        "jsonschema-rs is_valid": lambda: validator.is_valid(wire),
        "the partner's copy (messages.relayed)": lambda: messages.relayed(wire, 7, 1, 5),
        "the clock (Clock.now)": clock.now,
        "nothing": lambda: None,  # the loop's own cost, for bench_relay_instructions.py
    }


def codec_costs() -> None:
    """Where the project's CPU goes on a relayed candidate, timed in this process (hot loops:
    a server that relays a message every few milliseconds pays more per step, from cold caches)."""
    steps = relay_steps()
    whole = steps.pop("relay path")
    del steps["nothing"]
    parts = "; ".join(f"{name} {per_call(step) * 1e6:.2f} us" for name, step in steps.items())
    print(f"  the relay path of one candidate, no socket: {per_call(whole) * 1e6:.1f} us, of which {parts}")


def run_step(name: str, times: int) -> None:
    """Run one of :func:`relay_steps` ``times`` times (bench_relay_instructions.py --parts)."""
    step = relay_steps()[name]
    for _ in range(times):
        step()


async def latency_phase(rooms: dict[str, Rooms], rate: float, seconds: float) -> None:
    booths = len(rooms["project"].booths)
    print(
        f"\n== Relay latency at {booths} booths ({booths // 2} rooms), each sending {rate:g} msg/s "
        f"for {seconds:g} s =="
    )
    counter = [10_000_000 * booths]
    for label, group in rooms.items():
        waited = await group.server.settle()
        if waited > 1:
            print(f"  ({label} server busy for {waited:.1f} s after the booths connected)")
        group.stats.latencies.clear()
        sent = await pump(group.booths, group.stats, rate, seconds, counter)
        samples = group.stats.latencies
        print(
            f"  {label:8s}: {sent} sent, {len(samples)} timed; p50 {percentile(samples, 0.5) * 1000:.2f} ms, "
            f"p99 {percentile(samples, 0.99) * 1000:.2f} ms"
        )


async def memory_phase(
    session: aiohttp.ClientSession, label: str, server: Server, keys: list[str], warmup: int
) -> None:
    stats = Stats()
    booths = [Booth(key, stats) for key in keys]
    await gather_limited([b.connect(session, server.url) for b in booths[:warmup]])
    await server.settle()
    rss0, pss0 = server.memory()
    started = time.perf_counter()
    await gather_limited([b.connect(session, server.url) for b in booths[warmup:]])
    took = time.perf_counter() - started
    await server.settle()
    rss1, pss1 = server.memory()
    n = len(booths) - warmup
    print(
        f"  {label:8s}: {n} idle sockets connected in {took:.1f} s; RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB, "
        f"{kib((rss1 - rss0) / n)}/socket; PSS {kib((pss1 - pss0) / n)}/socket"
    )
    await gather_limited([b.close() for b in booths], limit=500)


async def main(args: argparse.Namespace) -> None:
    print(f"cpu_count: {os.cpu_count()}  python {sys.version.split()[0]}  aiohttp {aiohttp.__version__}")
    print(
        f"event loop: {type(asyncio.get_running_loop()).__module__}.{type(asyncio.get_running_loop()).__name__} "
        "(this process; both servers use uvloop when it is installed)"
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.idle_booths + 4096))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    print(f"open files limit: {wanted}")

    rooms_needed = max(args.rooms_cpu, args.rooms_large)
    booths_needed = 2 * rooms_needed + args.warmup + args.idle_booths
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        started = time.perf_counter()
        seeded = await seed(Path(tmp) / "bench.db", booths_needed, rooms_needed, now)
        print(
            f"seeded {booths_needed} booths with device keys and {rooms_needed} live bookings "
            f"in {time.perf_counter() - started:.1f} s"
        )
        project_cmd, bare_cmd = server_commands(sys.executable, seeded.url)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            servers = {"project": Server("project", project_cmd), "bare": Server("bare", bare_cmd)}
            try:
                for server in servers.values():
                    await server.ready(session)
                groups: dict[str, Rooms] = {}
                for label, server in servers.items():
                    stats = Stats()
                    pairs = await open_rooms(
                        session, server, seeded if label == "project" else None, 0, args.rooms_cpu, stats
                    )
                    groups[label] = Rooms(server, pairs, stats)
                await cpu_phase(groups, args.rounds, args.rate, args.seconds)
                await latency_phase(groups, args.latency_rate, args.latency_seconds)
                for label, group in groups.items():
                    more = await open_rooms(
                        session,
                        group.server,
                        seeded if label == "project" else None,
                        args.rooms_cpu,
                        args.rooms_large - args.rooms_cpu,
                        group.stats,
                    )
                    group.pairs.extend(more)
                await latency_phase(groups, args.latency_rate, args.latency_seconds)
                for group in groups.values():
                    await gather_limited([b.close() for b in group.booths], limit=500)
            finally:
                for server in servers.values():
                    server.stop()

            print(
                f"\n== Idle memory per connected booth: {args.idle_booths} authenticated idle sockets "
                f"after {args.warmup} warm-up ones (bare aiohttp measured 15.7 KiB here before; goal <= 24 KiB) =="
            )
            idle_keys = [seeded.keys[i] for i in seeded.idle[: args.warmup + args.idle_booths]]
            for label, command in (("project", project_cmd), ("bare", bare_cmd)):
                server = Server(label, command)
                try:
                    await server.ready(session)
                    keys = (
                        idle_keys
                        if label == "project"
                        else [f"bare-idle{i}-a" for i in range(len(idle_keys))]
                    )
                    await memory_phase(session, label, server, keys, args.warmup)
                finally:
                    server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--run-step", nargs=2, metavar=("STEP", "TIMES"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test of the bench")
    parser.add_argument("--rooms-cpu", type=int, default=50, help="rooms for the CPU and first latency phase")
    parser.add_argument("--rooms-large", type=int, default=500, help="rooms for the second latency phase")
    parser.add_argument("--rate", type=float, default=5.0, help="messages/s per booth in the CPU phase")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of one CPU round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--latency-rate", type=float, default=0.5, help="messages/s per booth, latency phases"
    )
    parser.add_argument("--latency-seconds", type=float, default=8.0)
    parser.add_argument("--idle-booths", type=int, default=5000)
    parser.add_argument(
        "--warmup", type=int, default=100, help="sockets connected before the memory baseline"
    )
    parser.add_argument("--max-seconds", type=float, default=900, help="give up after this long")
    args = parser.parse_args()
    if args.quick:
        args.rooms_cpu, args.rooms_large, args.seconds, args.rounds = 10, 50, 2.0, 1
        args.latency_seconds, args.idle_booths, args.warmup = 3.0, 500, 50
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.run_step:
        run_step(arguments.run_step[0], int(arguments.run_step[1]))
        sys.exit(0)
    if arguments.serve_bare:
        serve_bare(arguments.serve_bare)
        sys.exit(0)

    async def bounded() -> None:
        await asyncio.wait_for(main(arguments), arguments.max_seconds)

    event_loop().run_until_complete(bounded())

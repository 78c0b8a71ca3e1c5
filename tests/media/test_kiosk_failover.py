"""Two kiosks in a call through nginx and two server nodes; nodes die, restart, and Redis too.

Everything runs inside the loopback-only network namespace: Debian's nginx with the shipped
``deploy/nginx`` files (round robin, no sticky sessions), two ``booth-server`` processes on one
PostgreSQL database (reached through its Unix socket, the only way out of the namespace) and a
Redis server of the test's own (restartable, and 127.0.0.1 of the machine is out of reach here).

The booths' media is peer to peer, so a signalling failover must never cut the picture: every
page counts the frames its remote video presents and the longest gap between two of them, and
records the ``seq`` of every room message it receives (no gap, no duplicate).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import CANTINE_A, SF_A, missing_service
from tests.deploy.nginx import Nginx, nginx_proxy
from tests.media.kiosk import (
    COUNT_FRAMES,
    assert_no_gap_no_duplicate,
    frames_at_least,
    in_call,
    longest_frame_gap,
    room_seqs,
    until,
)
from tests.nodes import (
    NodeProcess,
    RedisProcess,
    ShiftedClock,
    book_running_session,
    free_port,
    node_env,
    pair_booths,
    stop_all,
)

pytestmark = [pytest.mark.media, pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]

POSTGRES_SOCKETS = "/var/run/postgresql"
START = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)
FRAMES = 30
PREFIX = "kiosk-failover:"


@pytest.fixture
async def socket_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database reached through the Unix socket, dropped afterwards."""
    import asyncpg

    name = f"sebastian_failover_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(host=POSTGRES_SOCKETS, user="postgres", database="postgres", timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        missing_service("PostgreSQL", f"its Unix socket in {POSTGRES_SOCKETS}: {exc}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield f"postgresql://postgres@/{name}?host={POSTGRES_SOCKETS}"
    admin = await asyncpg.connect(host=POSTGRES_SOCKETS, user="postgres", database="postgres", timeout=5)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@dataclass
class Cluster:
    nodes: dict[str, NodeProcess]
    proxy: Nginx
    redis: RedisProcess
    clock: ShiftedClock
    keys: dict[int, str]
    booking_id: int

    async def node_of(self, booth: int) -> str:
        """The node that holds the booth's socket now (its presence record)."""
        import redis.asyncio as redis

        client: Any = redis.Redis.from_url(self.redis.url)
        try:
            record = await client.get(f"{PREFIX}presence:{booth}")
        finally:
            await client.aclose()
        return str(json.loads(record)["node"]) if record else ""


@pytest.fixture
async def cluster(socket_database: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    clock = ShiftedClock(START + timedelta(seconds=1))  # the session has just begun
    ports = {"node-a": free_port(), "node-b": free_port()}
    store = RedisProcess(free_port(), tmp_path)
    await store.start()
    nodes: dict[str, NodeProcess] = {}
    try:
        async with nginx_proxy(list(ports.values()), tmp_path / "nginx") as proxy:
            for name, port in ports.items():
                env = node_env(
                    name,
                    port,
                    socket_database,
                    tmp_path,
                    redis_url=store.url,
                    prefix=PREFIX,
                    BOOTH_PUBLIC_ORIGIN=proxy.base,
                    BOOTH_DEMO="true" if name == "node-a" else "false",
                    BOOTH_DRAIN_SECONDS="1",
                )
                nodes[name] = NodeProcess(name, port, env, tmp_path / f"{name}.log")
                nodes[name].start(clock.now())
                await nodes[name].ready()
            async with aiohttp.ClientSession() as http:
                keys = await pair_booths(http, proxy.base)
                booking_id = await book_running_session(http, proxy.base, START, minutes=60)
            yield Cluster(nodes, proxy, store, clock, keys, booking_id)
    finally:
        await stop_all(list(nodes.values()))
        store.stop()
        for node in nodes.values():
            print(f"--- {node.name}\n{node.output()[-4000:]}")


async def _open_kiosk(browser: Any, base: str, key: str) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.problems = problems
    await page.goto(base + "/kiosk")
    await page.fill("#device-key", key)
    await page.click("#pair-form [type=submit]")
    await until(page, "Boolean(window.kiosk && window.kiosk.connection)")
    await page.evaluate(COUNT_FRAMES)
    return page


async def _reconnect(page: Any) -> None:
    """Drop the kiosk's socket as a network cut would; it resumes through the proxy."""
    resumed = int(await page.evaluate("window.kioskWelcomes.length"))
    await page.evaluate("window.kiosk.connection._ws.close()")
    await until(page, f"window.kioskWelcomes.length > {resumed}", 20)


async def _ice_restart(sf: Any, paris: Any) -> None:
    """SF (polite) asks for an ICE restart; Paris (impolite) makes a new offer with new ICE
    credentials; both are connected again over the new credentials."""
    ufrag = "pc => (pc.localDescription.sdp.match(/a=ice-ufrag:(\\S+)/) || [])[1]"
    before = await paris.evaluate(f"({ufrag})([...window.kiosk.connection.peers.values()][0].pc)")
    await sf.evaluate(f"window.kiosk.connection._askIceRestart({CANTINE_A})")
    await until(
        paris,
        f"(() => {{ const pc = [...window.kiosk.connection.peers.values()][0].pc;"
        f" return ({ufrag})(pc) !== {json.dumps(before)} && pc.iceConnectionState === 'connected'"
        f" && pc.signalingState === 'stable'; }})()",
        20,
    )


async def test_kiosks_on_two_nodes_survive_a_kill_a_rolling_restart_and_redis(
    cluster: Cluster, browser: Any
) -> None:
    paris = await _open_kiosk(browser, cluster.proxy.base, cluster.keys[CANTINE_A])
    sf = await _open_kiosk(browser, cluster.proxy.base, cluster.keys[SF_A])
    pages = (paris, sf)
    for page in pages:
        await in_call(page)
        await frames_at_least(page, FRAMES)
    # No sticky sessions: round robin may put both on one node. Reconnect one until they differ.
    for _ in range(6):
        if await cluster.node_of(CANTINE_A) != await cluster.node_of(SF_A):
            break
        await _reconnect(sf)
    nodes = {booth: await cluster.node_of(booth) for booth in (CANTINE_A, SF_A)}
    assert nodes[CANTINE_A] and nodes[SF_A] and nodes[CANTINE_A] != nodes[SF_A], nodes
    await _ice_restart(sf, paris)  # across nodes
    marks = [int(await page.evaluate("window.kioskFrames")) for page in pages]

    # Paris's node is killed outright. Both pictures go on; Paris's signalling resumes on the
    # other node, and an ICE restart through it completes.
    doomed, survivor = cluster.nodes[nodes[CANTINE_A]], cluster.nodes[nodes[SF_A]]
    doomed.kill()
    await until(paris, "window.kioskWelcomes.filter((w) => w.resumed).length >= 1", 30)
    assert await cluster.node_of(CANTINE_A) == survivor.name
    await _ice_restart(sf, paris)
    for page, mark in zip(pages, marks, strict=True):
        await frames_at_least(page, mark + FRAMES)
        assert await longest_frame_gap(page, mark) < 1.0

    # A rolling restart: the killed node comes back, then each node in turn stops gracefully
    # (server_going_away) and starts again; the kiosks follow, resuming, the picture uncut.
    doomed.start(cluster.clock.now())
    await doomed.ready()
    for node in (survivor, doomed):
        seen_before = [int(await page.evaluate("window.kioskFrames")) for page in pages]
        welcomes = [int(await page.evaluate("window.kioskWelcomes.length")) for page in pages]
        node.terminate()
        assert await node.exited() == 0
        for page, count in zip(pages, welcomes, strict=True):
            if await page.evaluate("window.kioskStates.slice(-1)[0]") == "reconnecting":
                await until(page, f"window.kioskWelcomes.length > {count}", 30)
        node.start(cluster.clock.now())
        await node.ready()
        for page, seen in zip(pages, seen_before, strict=True):
            await in_call(page, within=30)
            await frames_at_least(page, seen + FRAMES)
            assert await longest_frame_gap(page, seen) < 1.0
    for page in pages:
        assert await page.evaluate("window.kioskStreams") == 1  # the one call, never restarted
        assert await page.evaluate("window.kioskWelcomes.every((w) => w.resumed && !w.resync)")
        assert_no_gap_no_duplicate(await room_seqs(page))

    # Redis restarts empty: the nodes start a new epoch and close the booths' sockets with
    # state_lost; the kiosks reconnect, their resume is refused, they join afresh: a new call.
    last = {id(page): (await room_seqs(page))[-1][1] for page in pages}
    cluster.redis.stop()
    await cluster.redis.start()
    for page in pages:
        await until(page, "window.kioskStreams >= 2", 45)
        await in_call(page, within=30)
        seqs = await room_seqs(page)
        joined = [seq for kind, seq in seqs if kind == "joined"]
        assert joined[-1] > last[id(page)]  # numbering never goes backwards for the booking
        assert page.problems == []
    marks = [int(await page.evaluate("window.kioskFrames")) for page in pages]
    for page, mark in zip(pages, marks, strict=True):
        await frames_at_least(page, mark + FRAMES)

"""Two real ``booth-server`` processes on PostgreSQL and Redis; one is killed with SIGKILL.

The booths speak the protocol over real sockets (``signalling_support.Booth`` checks every
message against its schema and every ``seq`` for gaps and duplicates). The node that holds the
room's timer lease is the one killed, so the other must take the lease over and fire the
countdown exactly once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import CANTINE_A, REDIS_URL, SF_A
from tests.nodes import (
    NodeProcess,
    ShiftedClock,
    book_running_session,
    free_port,
    node_env,
    pair_booths,
    stop_all,
)
from tests.server.signalling_support import CANDIDATE, SDP_ANSWER, SDP_OFFER, Booth
from webrtc.limits import SEQ_EPOCH_SPAN

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SIGNALLING = "/api/v1/signalling"
START = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)


async def open_booth(http: aiohttp.ClientSession, node: NodeProcess, key: str, **hello: Any) -> Booth:
    """A booth on ``node`` (a headless client: its key in the upgrade's Authorization header)."""
    ws = await http.ws_connect(
        f"{node.url}{SIGNALLING}", headers={"Authorization": f"Device {key}"}, autoping=False
    )
    booth = Booth(ws)
    await booth.send(type="hello", version=1, device_key=key, **hello)
    booth.welcome = await booth.expect("welcome", wait=10)
    booth.booth_id = booth.welcome["booth_id"]
    return booth


async def test_the_lease_holder_is_killed_and_the_call_goes_on(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    import redis.asyncio as redis

    clock = ShiftedClock(datetime(2027, 3, 16, 15, 50, tzinfo=UTC))
    nodes = [
        NodeProcess(
            name,
            port,
            node_env(name, port, postgres_url, tmp_path, redis_url=REDIS_URL, prefix=redis_prefix, **extra),
            tmp_path / f"{name}.log",
        )
        for name, port, extra in (
            ("node-a", free_port(), {"BOOTH_DEMO": "true"}),
            ("node-b", free_port(), {}),
        )
    ]
    by_name = {n.name: n for n in nodes}
    store: Any = redis.Redis.from_url(REDIS_URL)
    try:
        for node in nodes:  # one after the other: the first one seeds the demo data
            node.start(clock.now())
            await node.ready()
        a, b = nodes
        async with aiohttp.ClientSession() as http:
            keys = await pair_booths(http, a.url)
            paris = await open_booth(http, a, keys[CANTINE_A])
            sf = await open_booth(http, b, keys[SF_A])
            # A session already running whose last-minute warning comes 30 s from now, however
            # long the nodes took to start: the kill below comes well before it.
            warning = clock.now().replace(microsecond=0) + timedelta(seconds=30)
            booking = await book_running_session(
                http, a.url, warning + timedelta(minutes=1) - timedelta(minutes=15), minutes=15
            )
            await paris.send(type="join", booking_id=booking)
            await paris.expect("joined")
            await paris.expect("peer_status", state="waiting")
            await sf.send(type="join", booking_id=booking)
            await sf.expect("joined")
            await sf.expect("peer_status", state="joined")
            await paris.expect("peer_status", state="joined")
            await paris.send(type="offer", booking_id=booking, sdp=SDP_OFFER)
            await sf.expect("offer")
            await sf.send(type="answer", booking_id=booking, sdp=SDP_ANSWER)
            await paris.expect("answer")

            # Kill the node that fires this room's timers; its booth moves to the other node.
            holder = await _lease_holder(store, redis_prefix, booking)
            doomed = by_name[holder]
            survivor = b if doomed is a else a
            moving, staying = (paris, sf) if doomed is a else (sf, paris)
            seen, token = moving.last_seq, moving.welcome["resume_token"]
            doomed.kill()
            # Signals sent meanwhile are kept for the booth that lost its node.
            await staying.send(type="candidate", booking_id=booking, candidate=CANDIDATE)
            await staying.send(type="candidate", booking_id=booking, candidate=None)

            moved = await open_booth(http, survivor, keys[moving.booth_id], resume_token=token, last_seq=seen)
            moved.last_seq = seen
            assert moved.welcome["resumed"] is True, moved.welcome
            assert moved.welcome["replay_until"] == seen + 2
            await moved.expect("candidate", candidate=CANDIDATE, seq=seen + 1)
            await moved.expect("candidate", candidate=None, seq=seen + 2)

            # An ICE restart across what is now one node, then the last-minute countdown, fired
            # once by the node that took the lease over.
            await moved.send(type="ice_restart", booking_id=booking)
            await staying.expect("ice_restart", **{"from": moved.booth_id})
            for booth in (moved, staying):
                countdown = await booth.expect("countdown", wait=40)
                assert 59 <= countdown["remaining_seconds"] <= 60
                await booth.silent(1.5)  # no second countdown: the timer fired exactly once
            assert await _lease_holder(store, redis_prefix, booking) == survivor.name
            await moved.ws.close()
            await staying.ws.close()
    finally:
        await store.aclose()
        await stop_all(nodes)
        for node in nodes:
            print(f"--- {node.name}\n{node.output()}")


async def _lease_holder(store: Any, prefix: str, booking: int, within: float = 5.0) -> str:
    """The node holding the room's timer lease (nodes take leases within a second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (value := await store.get(f"{prefix}lease:{booking}")) is None:
        assert loop.time() < deadline, f"no node holds the room's lease after {within} s"
        await asyncio.sleep(0.05)
    return str(value.decode())


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_the_embedded_server_restarts_and_the_booths_resume(how: str, tmp_path: Path) -> None:
    """One process on SQLite: a deploy (SIGTERM) loses nothing; a crash (SIGKILL) may lose the
    last moments, and the booths are told so (``resync``) instead of carrying on with a gap."""
    clock = ShiftedClock(datetime(2027, 3, 16, 15, 56, tzinfo=UTC))
    port = free_port()
    env = node_env(
        "solo",
        port,
        f"sqlite:///{tmp_path / 'solo.db'}",
        tmp_path,
        redis_url=None,
        prefix=None,
        BOOTH_DEMO="true",
        BOOTH_DRAIN_SECONDS="0",
    )
    node = NodeProcess("solo", port, env, tmp_path / "solo.log")
    try:
        node.start(clock.now())
        await node.ready()
        async with aiohttp.ClientSession() as http:
            keys = await pair_booths(http, node.url)
            booking = await book_running_session(http, node.url, START, minutes=60)
            paris = await open_booth(http, node, keys[CANTINE_A])
            sf = await open_booth(http, node, keys[SF_A])
            for booth in (paris, sf):
                await booth.send(type="join", booking_id=booking)
                await booth.expect("joined")
            await paris.expect("peer_status", state="waiting")
            await paris.expect("peer_status", state="joined")
            await sf.expect("peer_status", state="joined")
            await paris.send(type="offer", booking_id=booking, sdp=SDP_OFFER)
            await sf.expect("offer")

            if how == "sigterm":
                node.terminate()
                for booth in (paris, sf):
                    before = await booth.expect_closed(1001, wait=20, reason="server_going_away")
                    assert before[-1]["type"] == "server_going_away"
                assert await node.exited() == 0
            else:
                # A crash once the joins reached the disk; the offer, a signal, is still only in
                # memory (only a graceful stop writes what signals left): the booths must be told.
                await _written(tmp_path / "solo.db", entries=3)
                node.kill()
            node.start(clock.now())
            await node.ready()

            back = {}
            for booth in (paris, sf):
                again = await open_booth(
                    http,
                    node,
                    keys[booth.booth_id],
                    resume_token=booth.welcome["resume_token"],
                    last_seq=booth.last_seq,
                )
                assert again.welcome["resumed"] is True, again.welcome
                assert again.welcome["resync"] is (how == "sigkill")
                again.last_seq = booth.last_seq
                if how == "sigkill":  # numbering goes on from the new epoch: never backwards
                    again.last_seq = SEQ_EPOCH_SPAN
                back[booth.booth_id] = again
            if how == "sigterm":  # each sees the other come back (its drop was seen before or now)
                for who, partner in ((CANTINE_A, SF_A), (SF_A, CANTINE_A)):
                    states: list[str] = []
                    while not states or states[-1] != "back":
                        states.append((await back[who].expect("peer_status", peer=partner))["state"])
                    assert states in (["back"], ["reconnecting", "back"]), states
                await back[SF_A].send(type="answer", booking_id=booking, sdp=SDP_ANSWER)
                await back[CANTINE_A].expect("answer")
            await back[CANTINE_A].send(type="ice_restart", booking_id=booking)
            seen = await back[SF_A].expect("ice_restart", **{"from": CANTINE_A})
            if how == "sigkill":
                assert seen["seq"] > SEQ_EPOCH_SPAN
    finally:
        await stop_all([node])
        print(node.output())


async def _written(database: Path, entries: int, within: float = 10.0) -> None:
    """Wait until the embedded server has written ``entries`` room log entries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        with sqlite3.connect(database) as db:
            (count,) = db.execute("SELECT count(*) FROM room_log_entries").fetchone()
        if count >= entries:
            return
        assert loop.time() < deadline, f"{count} room log entries written after {within} s"
        await asyncio.sleep(0.02)

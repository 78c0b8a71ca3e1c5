"""Two nodes on one PostgreSQL database and one Redis: any node serves any booth.

Both apps run in this test process with their own Redis bus (a key prefix of their own per
test, so tests and runs never meet in the shared Redis). What a node killed outright does is in
``test_node_failover.py``, with real processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import CANTINE_A, CANTINE_B, REDIS_URL, SF_A
from tests.nodes import RedisProcess, free_port
from tests.server.signalling_support import (
    CANDIDATE,
    SDP_ANSWER,
    SDP_OFFER,
    Booth,
    Session,
    booked_session,
    pair,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def poll_until(read: Callable[[], Awaitable[Any]], expected: Any, within: float = 5.0) -> None:
    """Read until it gives ``expected``, or fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (value := await read()) != expected:
        assert loop.time() < deadline, f"still {value!r}, not {expected!r}, after {within} s"
        await asyncio.sleep(0.05)


@dataclasses.dataclass
class Cluster:
    a: Session  # node A (the session's booking and device keys were made there)
    b: Session  # the same session seen through node B

    async def connect(self, node: Session, booth: int, **hello: Any) -> Booth:
        """``booth`` on ``node``; with a resume claim in ``hello``, no schedule is awaited."""
        return await node.connect(
            booth, hello={"device_key": self.a.keys[booth], **hello} if hello else None, schedule=not hello
        )


@pytest.fixture
async def cluster(postgres_url, redis_prefix, make_client, clock) -> Cluster:
    # make_client last: its apps stop before the database and the Redis keys go away.
    config = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    a = await booked_session(make_client, postgres_url, clock, node_id="node-a", **config)
    b_client = await make_client(postgres_url, node_id="node-b", **config)
    return Cluster(a, dataclasses.replace(a, client=b_client))


async def test_booths_on_two_nodes_meet_in_one_room(cluster: Cluster) -> None:
    s = cluster.a
    paris = await cluster.a.connect(CANTINE_A)
    sf = await cluster.b.connect(SF_A)
    await paris.send(type="join", booking_id=s.booking_id)
    await paris.expect("joined")
    await paris.expect("peer_status", peer=SF_A, state="waiting")
    await sf.send(type="join", booking_id=s.booking_id)
    await sf.expect("joined")
    await sf.expect("peer_status", peer=CANTINE_A, state="joined")
    await paris.expect("peer_status", peer=SF_A, state="joined")

    await paris.send(type="offer", booking_id=s.booking_id, sdp=SDP_OFFER)
    await paris.send(type="candidate", booking_id=s.booking_id, candidate=CANDIDATE)
    await sf.expect("offer", sdp=SDP_OFFER, **{"from": CANTINE_A})
    await sf.expect("candidate", candidate=CANDIDATE)
    await sf.send(type="answer", booking_id=s.booking_id, sdp=SDP_ANSWER)
    await paris.expect("answer", sdp=SDP_ANSWER, **{"from": SF_A})
    # An answer with no offer waiting is refused by the room, whichever node holds it.
    await sf.send(type="answer", id="again", booking_id=s.booking_id, sdp=SDP_ANSWER)
    await sf.expect("error", code="unexpected_answer", ref="again")

    # Staff asking node A see the San Francisco booth in the room, though it is on node B.
    async def sf_state() -> str:
        response = await s.client.get("/api/v1/venues/2/presence", headers=s.staff_sf)
        assert response.status == 200
        return {p["booth_id"]: p["state"] for p in (await response.json())["booths"]}[SF_A]

    await poll_until(sf_state, "in_room")


async def test_a_change_on_one_node_closes_the_room_on_the_other(cluster: Cluster) -> None:
    s = cluster.a
    paris, sf = await cluster.b.both_joined()  # both on node B
    response = await s.client.delete(f"/api/v1/bookings/{s.booking_id}", headers=s.ada)  # on node A
    assert response.status == 200
    for booth in (paris, sf):
        closed = await booth.expect("room_closed", reason="cancelled", wait=5)
        assert closed["booking_id"] == s.booking_id
        schedule = await booth.expect("schedule")
        assert schedule["bookings"] == []
    await paris.send(type="candidate", id="late", booking_id=s.booking_id, candidate=CANDIDATE)
    await paris.expect("error", code="cancelled", ref="late")


async def test_resume_on_the_other_node_replays_what_was_missed(cluster: Cluster) -> None:
    s = cluster.a
    paris, sf = await cluster.a.both_joined()  # both on node A
    await paris.send(type="offer", booking_id=s.booking_id, sdp=SDP_OFFER)
    await sf.expect("offer")
    seen, token = sf.last_seq, sf.welcome["resume_token"]

    await sf.ws.close()  # SF's path to node A is gone
    await paris.expect("peer_status", peer=SF_A, state="reconnecting")
    await paris.send(type="candidate", booking_id=s.booking_id, candidate=CANDIDATE)
    await paris.send(type="candidate", booking_id=s.booking_id, candidate=None)

    back = await cluster.connect(cluster.b, SF_A, resume_token=token, last_seq=seen)  # through node B
    back.last_seq = seen
    assert back.welcome["resumed"] is True
    assert back.welcome["replay_until"] == seen + 2 and back.welcome["resync"] is False
    await back.expect("candidate", candidate=CANDIDATE, seq=seen + 1)
    await back.expect("candidate", candidate=None, seq=seen + 2)
    await paris.expect("peer_status", peer=SF_A, state="back")
    await back.send(type="ice_restart", booking_id=s.booking_id)  # and the call goes on across nodes
    await paris.expect("ice_restart", **{"from": SF_A})


async def test_redis_losing_its_data_is_told_and_the_room_starts_afresh(
    cluster: Cluster, redis_prefix
) -> None:
    import redis.asyncio as redis

    s = cluster.a
    paris, sf = await cluster.a.connect(CANTINE_A), await cluster.b.connect(SF_A)
    idle = await cluster.b.connect(
        CANTINE_B, hello={"device_key": await pair(s.client, CANTINE_B, s.staff_paris)}
    )
    for booth in (paris, sf):
        await booth.send(type="join", booking_id=s.booking_id)
        await booth.expect("joined")
    before = {paris.booth_id: paris.last_seq, sf.booth_id: sf.last_seq}

    store: Any = redis.Redis.from_url(REDIS_URL)  # Redis restarts without persistence
    await store.delete(*[key async for key in store.scan_iter(f"{redis_prefix}*")])
    await store.aclose()

    for booth, node in ((paris, cluster.a), (sf, cluster.b)):
        # Told, never a silent gap: the error, then the close 4007.
        messages = await booth.expect_closed(4007, wait=10, reason="state_lost")
        assert messages[-1]["code"] == "state_lost"
        again = await cluster.connect(
            node, booth.booth_id, resume_token=booth.welcome["resume_token"], last_seq=booth.last_seq
        )
        assert again.welcome["resumed"] is False
        await again.expect("error", code="resume_failed")
        await again.send(type="join", booking_id=s.booking_id)
        joined = await again.expect("joined")
        assert joined["seq"] > before[booth.booth_id]  # seq never goes backwards for a booking
    await idle.send(type="ping", id="still")  # an idle booth was not disturbed
    await idle.expect("pong", ref="still")


@pytest.fixture
async def own_redis(tmp_path) -> AsyncIterator[RedisProcess]:
    """A Redis of the test's own, to restart (requested before make_client: it stops after the apps)."""
    store = RedisProcess(free_port(), tmp_path)
    await store.start()
    yield store
    store.stop()


async def test_after_redis_restarts_the_nodes_hear_each_other_again(
    own_redis, postgres_url, redis_prefix, make_client, clock
) -> None:
    """Redis restarted empty: each node subscribes to the others' channel again, so a booth
    reconnecting through node B still replaces its socket on node A."""
    import redis.asyncio as redis

    config = {"redis_url": own_redis.url, "redis_prefix": redis_prefix}
    a = await booked_session(make_client, postgres_url, clock, node_id="node-a", **config)
    b = dataclasses.replace(a, client=await make_client(postgres_url, node_id="node-b", **config))
    cluster = Cluster(a, b)
    channel = f"{redis_prefix}channel:nodes"

    async def subscribers() -> int:
        client: Any = redis.Redis.from_url(own_redis.url)
        try:
            return int(dict(await client.pubsub_numsub(channel))[channel.encode()])
        except redis.ConnectionError:
            return -1  # Redis not back yet
        finally:
            await client.aclose()

    await poll_until(subscribers, 2)
    on_a = await cluster.connect(a, CANTINE_A)
    own_redis.stop()
    await own_redis.start()
    await poll_until(subscribers, 2, within=10)
    # Pub/sub keeps nothing for a subscriber still reconnecting, so the booth reconnects
    # through B until one takeover reaches A (none ever does if A stopped listening).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    reading = asyncio.ensure_future(on_a.expect_closed(4005, wait=15, reason="replaced"))
    while not reading.done():
        assert loop.time() < deadline, "node A never heard of the booth's newer socket on node B"
        await cluster.connect(b, CANTINE_A)
        await asyncio.wait([reading], timeout=0.5)
    messages = reading.result()
    assert messages[-1]["code"] == "replaced"


async def test_a_join_that_redis_never_takes_is_told_state_lost(
    own_redis, postgres_url, redis_prefix, make_client, clock
) -> None:
    """Redis answers reads but not writes (paused longer than the client's 5 s socket timeout):
    the join's entry is lost, and the booth is told to reconnect instead of waiting forever."""
    import redis.asyncio as redis

    s = await booked_session(
        make_client, postgres_url, clock, redis_url=own_redis.url, redis_prefix=redis_prefix
    )
    paris = await s.connect(CANTINE_A)
    admin: Any = redis.Redis.from_url(own_redis.url)
    try:
        await admin.execute_command("CLIENT", "PAUSE", 8000, "WRITE")
        await paris.send(type="join", booking_id=s.booking_id)
        messages = await paris.expect_closed(4007, wait=10, reason="state_lost")
        assert [m["code"] for m in messages if m["type"] == "error"] == ["state_lost"]
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()

"""Two booth-server nodes on PostgreSQL and Redis behind Debian's nginx, configured with the
shipped deploy/nginx files.

What these show: requests alternate between the nodes (round robin, no stickiness); a booth's
WebSocket passes through and stays open with nothing but the server's pings; a draining node
(signalling upgrades answered 503) is skipped by nginx's passive check, so a booth lands on the
other node; a stopped node is skipped; and the access log carries no feed token.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from booth_server.keys import LIFECYCLE
from tests.conftest import ADA, CANTINE_A, REDIS_URL, SF_A, STAFF_PARIS, STAFF_SF, token_for
from tests.deploy.nginx import SERVER_CONTEXT, Nginx, NginxFront
from webrtc.limits import HEARTBEAT_INTERVAL, IDLE_TIMEOUT

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PATH = "/api/v1/signalling"
#: Frequent pings keep the quiet-socket test short; nginx's read timeout stays as shipped.
PING_EVERY = 2.0
QUIET_FOR = 21.0


@dataclass
class Front:
    nginx: Nginx
    nodes: list[TestClient[Any, Any]]
    http: aiohttp.ClientSession

    def node_address(self, index: int) -> str:
        return f"127.0.0.1:{self.nodes[index].port}"

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(self.nginx.base + path, **kwargs) as response:
            return response.status, await response.text()

    async def logged(self, needle: str, count: int) -> list[str]:
        """The access log's upstream of each of ``count`` requests whose line holds ``needle``."""
        deadline = time.monotonic() + 5
        while True:
            lines = [line for line in self.nginx.access_lines() if needle in line]
            if len(lines) >= count:
                return [line.rsplit("upstream=", 1)[1] for line in lines]
            assert time.monotonic() < deadline, f"{len(lines)} of {count} lines: {self.nginx.access_lines()}"
            await asyncio.sleep(0.05)

    async def booth(self, key: str, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        """A booth socket through nginx, authenticated and welcomed."""
        ws = await self.http.ws_connect(
            self.nginx.base + PATH, headers={"Authorization": f"Device {key}"}, **kwargs
        )
        await ws.send_str(json.dumps({"type": "hello", "version": 1}))
        while True:
            frame = await ws.receive(timeout=5)
            if frame.type is aiohttp.WSMsgType.PING:
                await ws.pong(frame.data)
                continue
            assert frame.type is aiohttp.WSMsgType.TEXT, frame
            assert json.loads(frame.data)["type"] == "welcome"
            return ws


@pytest.fixture
async def front(
    postgres_url: str, redis_prefix: str, make_client: Any, nginx_front: NginxFront
) -> AsyncIterator[Front]:
    """Two nodes as deployed: one PostgreSQL database, one Redis (the second node's demo
    seeding finds it done)."""
    nodes = [
        await make_client(
            postgres_url,
            signal_heartbeat=PING_EVERY,
            drain_seconds=300.0,
            redis_url=REDIS_URL,
            redis_prefix=redis_prefix,
            node_id=f"node-{index}",
        )
        for index in range(2)
    ]
    nginx = await nginx_front([node.port for node in nodes])
    async with aiohttp.ClientSession() as http:
        yield Front(nginx, nodes, http)


async def device_key(front: Front, booth: int, staff: str) -> str:
    response = await front.nodes[0].post(
        f"/api/v1/booths/{booth}/device-key", headers=await token_for(front.nodes[0], staff)
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["device_key"])


def test_the_shipped_read_timeout_outlasts_the_heartbeat_and_the_idle_timeout() -> None:
    text = SERVER_CONTEXT.read_text()
    signalling = text[text.index(f"location = {PATH}") :]
    signalling = signalling[: signalling.index("}")]
    seconds = int(re.search(r"proxy_read_timeout (\d+)s;", signalling).group(1))  # type: ignore[union-attr]
    assert seconds > IDLE_TIMEOUT > HEARTBEAT_INTERVAL
    assert "proxy_buffering off;" in signalling


async def test_requests_alternate_between_the_nodes(front: Front) -> None:
    for _ in range(6):
        status, body = await front.get("/api/v1/venues")
        assert status == 200 and len(json.loads(body)["venues"]) == 2
    upstreams = await front.logged("GET /api/v1/venues", 6)
    assert set(upstreams) == {front.node_address(0), front.node_address(1)}
    assert all(a != b for a, b in zip(upstreams, upstreams[1:], strict=False)), upstreams


async def test_a_booth_socket_stays_open_through_nginx_with_only_pings(front: Front) -> None:
    key = await device_key(front, CANTINE_A, STAFF_PARIS)
    ws = await front.booth(key, autoping=False)
    pings, started = 0, time.monotonic()
    while (left := QUIET_FOR - (time.monotonic() - started)) > 0:
        try:
            frame = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if frame.type is aiohttp.WSMsgType.PING:
            pings += 1
            await ws.pong(frame.data)
        else:
            assert frame.type is aiohttp.WSMsgType.TEXT, (
                f"closed after {time.monotonic() - started:.1f} s: {frame}"
            )
    assert pings >= QUIET_FOR / PING_EVERY / 2, pings
    await ws.send_str(json.dumps({"type": "ping", "id": 7}))
    while (frame := await ws.receive(timeout=5)).type is not aiohttp.WSMsgType.TEXT:
        assert frame.type is aiohttp.WSMsgType.PING, frame
    assert json.loads(frame.data) == {"type": "pong", "ref": 7}
    await ws.close()


async def test_a_kiosk_page_of_the_proxy_origin_may_open_the_socket(front: Front) -> None:
    """A browser sends the origin it loaded the kiosk from, nginx's; no public origin is set."""
    key = await device_key(front, SF_A, STAFF_SF)
    ws = await front.http.ws_connect(front.nginx.base + PATH, origin=front.nginx.base)
    await ws.send_str(json.dumps({"type": "hello", "version": 1, "device_key": key}))
    while (frame := await ws.receive(timeout=5)).type is aiohttp.WSMsgType.PING:
        await ws.pong(frame.data)
    assert json.loads(frame.data)["type"] == "welcome"
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await front.http.ws_connect(front.nginx.base + PATH, origin="http://elsewhere.example")
    assert refused.value.status == 403


async def test_a_draining_node_is_skipped_for_new_booths(front: Front) -> None:
    draining = front.nodes[0]
    drain = asyncio.create_task(draining.app[LIFECYCLE].drain())
    try:
        assert (await draining.get("/readyz")).status == 503
        keys = [await device_key(front, CANTINE_A, STAFF_PARIS), await device_key(front, SF_A, STAFF_SF)]
        sockets = [await front.booth(key) for key in keys]
        for ws in sockets:
            await ws.close()
        # Whichever node nginx tried first, each upgrade ended on the node that is not draining.
        upstreams = await front.logged(f"GET {PATH}", 2)
        assert all(u.endswith(front.node_address(1)) for u in upstreams), upstreams
        assert any(front.node_address(0) in u for u in upstreams), "nginx never tried the draining node"
        # The draining node still answers everything else (nginx may send it plain requests).
        assert (await draining.get("/api/v1/venues")).status == 200
        assert (await front.get("/api/v1/venues"))[0] == 200
    finally:
        drain.cancel()


async def test_the_going_away_close_passes_through(front: Front) -> None:
    ws = await front.booth(await device_key(front, CANTINE_A, STAFF_PARIS))

    async def read() -> tuple[list[dict[str, Any]], aiohttp.WSMessage]:
        frames = []
        while (frame := await ws.receive(timeout=10)).type is aiohttp.WSMsgType.TEXT:
            frames.append(json.loads(frame.data))
        return frames, frame

    reading = asyncio.create_task(read())
    await asyncio.gather(*(node.close() for node in front.nodes))  # both shut down as on SIGTERM
    frames, frame = await reading
    assert frames[-1]["type"] == "server_going_away"
    # The close frame as the node sent it: code and reason.
    assert (frame.type, frame.data, frame.extra) == (aiohttp.WSMsgType.CLOSE, 1001, "server_going_away")


async def test_a_stopped_node_is_skipped(front: Front) -> None:
    await front.nodes[0].close()
    for _ in range(4):
        assert (await front.get("/api/v1/booths"))[0] == 200
    upstreams = await front.logged("GET /api/v1/booths", 4)
    assert all(u.endswith(front.node_address(1)) for u in upstreams), upstreams


async def test_the_access_log_redacts_feed_tokens(front: Front) -> None:
    ada = await token_for(front.nodes[0], ADA)
    async with front.http.post(
        front.nginx.base + "/api/v1/feeds", headers=ada, json={"kind": "organizer"}
    ) as response:
        assert response.status == 201, await response.text()
        feed = await response.json()
    path = "/" + feed["https_url"].split("/", 3)[3]
    assert (await front.get(path + "?x=1"))[0] == 200
    await front.logged("GET /feeds/organizer/[redacted]", 1)
    log = front.nginx.access_log.read_text()
    assert feed["token"] not in log and "x=1" not in log

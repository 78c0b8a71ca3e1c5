"""The echo peer as a process: ``booth-echo``'s HTTP API refuses bad input, and booth-server's
supervisor starts it, restarts it when it dies and stops it on shutdown. No offer here ever
connects: media flows only in tests/media."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from booth_server.config import Config
from booth_server.echo_process import EchoPeer, EchoUnavailable
from tests.processes import process_state


async def until(condition: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition still false")
        await asyncio.sleep(0.1)


async def test_supervisor_starts_restarts_and_stops_the_echo() -> None:
    peer = EchoPeer(Config(echo_capacity=2))
    try:
        await peer.ensure_running()
        assert peer.process is not None
        first = peer.process.pid
        health = await peer.health()
        assert health == {"status": "ok", "capacity": 2, "active": 0}
        os.kill(first, signal.SIGKILL)  # a crash

        async def restarted() -> bool:
            return peer.process is not None and peer.process.pid != first and peer._ready.is_set()

        await until(restarted)
        assert peer.restarts == 1
        assert (await peer.health())["status"] == "ok"
        # The API refuses what is not an offer, and a session it does not know.
        with pytest.raises(EchoUnavailable, match="400"):
            await peer.open_session("not sdp")
        assert await peer.close_session("es_unknown") == {}
        second = peer.process.pid
    finally:
        await peer.stop()
    assert process_state(second) in (None, "Z")


async def test_the_echo_wants_its_token() -> None:
    peer = EchoPeer(Config())
    try:
        await peer.ensure_running()
        async with aiohttp.ClientSession() as session:
            async with session.post(peer.url + "/sessions", json={"sdp": "v=0\r\n"}) as response:
                assert response.status == 401
                assert (await response.json())["error"] == "unauthorized"
            async with session.get(peer.url + "/health") as response:
                assert response.status == 200  # health is open: it says nothing secret
    finally:
        await peer.stop()


async def test_an_echo_elsewhere_that_does_not_answer_is_unavailable() -> None:
    peer = EchoPeer(Config(echo_url="http://127.0.0.1:9"))
    with pytest.raises(EchoUnavailable, match="cannot be reached"):
        await peer.ensure_running()
    await peer.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--capacity", "0"], "--capacity 0: give 1 to 256"),
        (["--capacity", "many"], "invalid int value"),
        (["--port", "70000"], "--port 70000 is not a port"),
    ],
)
def test_booth_echo_command_line_refuses_bad_values(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webrtc.echo", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert message in done.stderr


#: A booth-server stand-in: the server's own supervisor starts the embedded echo, says its pid.
EMBEDDING = """
import asyncio
from booth_server.config import Config
from booth_server.echo_process import EchoPeer

async def main():
    peer = EchoPeer(Config())
    await peer.ensure_running()
    print(peer.process.pid, flush=True)
    await asyncio.sleep(300)

asyncio.run(main())
"""


async def test_the_embedded_echo_stops_when_its_server_is_killed() -> None:
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", EMBEDDING, stdout=asyncio.subprocess.PIPE
    )
    assert server.stdout is not None
    try:
        echo = int(await asyncio.wait_for(server.stdout.readline(), 60))
        assert process_state(echo) not in (None, "Z")
    finally:
        server.kill()  # SIGKILL: the server cannot stop its echo itself
        await server.wait()

    async def gone() -> bool:
        return process_state(echo) in (None, "Z")

    await until(gone, within=15)

"""Graceful drain of a real ``booth-server`` process: SIGTERM first makes /readyz answer 503
with the listener still open, and only after the drain time do the booth sockets get
``server_going_away`` and the close 1001."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from booth_server.cli import main
from booth_server.config import Config, ConfigError
from tests.conftest import CANTINE_A, DEMO_PASSWORD, STAFF_PARIS
from tests.deploy.nginx import free_port
from tests.server.test_cli import clean_env

DRAIN = 3.0


class Server:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.communicate(timeout=10)[0]


def start(database: Path, drain: float) -> Server:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "booth_server.cli", "--demo", "--port", str(port)]
        + ["--database", f"sqlite:///{database}", "--drain-seconds", str(drain)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    return Server(process, port)


@pytest.fixture
async def server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """``booth-server --demo`` on SQLite, ready; its drain time is the test's parameter."""
    started = start(tmp_path / "drain.db", getattr(request, "param", DRAIN))
    process = started.process
    try:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                assert process.poll() is None, started.output()
                try:
                    async with http.get(f"{started.base}/readyz") as response:
                        assert response.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "the server did not start"
                    await asyncio.sleep(0.1)
        yield started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


async def readyz_status(http: aiohttp.ClientSession, server: Server) -> int:
    async with http.get(f"{server.base}/readyz") as response:
        return response.status


async def until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def paired_booth(http: aiohttp.ClientSession, server: Server) -> str:
    async with http.post(
        f"{server.base}/api/v1/tokens", json={"email": STAFF_PARIS, "password": DEMO_PASSWORD}
    ) as response:
        token = (await response.json())["token"]
    async with http.post(
        f"{server.base}/api/v1/booths/{CANTINE_A}/device-key", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["device_key"])


async def test_sigterm_drains_with_the_listener_open_then_sockets_go_away(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        key = await paired_booth(http, server)
        booth = await http.ws_connect(
            f"{server.base}/api/v1/signalling", headers={"Authorization": f"Device {key}"}
        )
        await booth.send_str(json.dumps({"type": "hello", "version": 1}))
        assert (await booth.receive_json(timeout=5))["type"] == "welcome"

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)

        async def unready() -> bool:
            return await readyz_status(http, server) == 503

        await until(unready, "/readyz never answered 503 after SIGTERM")
        async with http.get(f"{server.base}/readyz") as response:
            assert await response.json() == {"status": "draining"}
        # Still listening, every other route still served, while the booth socket stays open.
        async with http.get(f"{server.base}/api/v1/venues") as response:
            assert response.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(
                f"{server.base}/api/v1/signalling", headers={"Authorization": f"Device {key}"}
            )
        assert refused.value.status == 503

        frames = []
        while True:
            frame = await booth.receive(timeout=DRAIN + 10)
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            frames.append(json.loads(frame.data))
        closed_after = time.monotonic() - signalled
        assert frame.type is aiohttp.WSMsgType.CLOSE and booth.close_code == 1001
        assert frames[-1] == {"type": "server_going_away", "retry_after": 5}
        assert all(f["type"] == "schedule" for f in frames[:-1]), frames
        assert closed_after >= DRAIN, f"the sockets were closed {closed_after:.1f} s after SIGTERM"
    assert server.process.wait(timeout=DRAIN + 10) == 0
    output = server.output()
    assert "draining" in output and "Traceback" not in output


@pytest.mark.parametrize("server", [300.0], indirect=True)
async def test_a_second_signal_ends_the_drain_at_once(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        server.process.send_signal(signal.SIGINT)

        async def unready() -> bool:
            return await readyz_status(http, server) == 503

        await until(unready, "/readyz never answered 503 after SIGINT")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0  # not the 300 s drain


@pytest.mark.parametrize("value", ["-1", "301", "soon", "nan"])
def test_bad_drain_flags_are_named(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--drain-seconds", value])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--drain-seconds" in error and "seconds" in error and "Traceback" not in error


@pytest.mark.parametrize("value", ["-0.5", "300.5", "ten", ""])
def test_bad_drain_variables_are_named(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOTH_DRAIN_SECONDS", value)
    assert main([]) == 2  # refused before anything starts
    assert "BOOTH_DRAIN_SECONDS" in capsys.readouterr().err


def test_drain_time_from_the_environment_and_its_bounds() -> None:
    assert Config.load({}, {}).drain_seconds == 10
    assert Config.load({}, {"BOOTH_DRAIN_SECONDS": "0"}).drain_seconds == 0
    assert Config.load({"drain_seconds": 2.5}, {"BOOTH_DRAIN_SECONDS": "30"}).drain_seconds == 2.5
    with pytest.raises(ConfigError, match="BOOTH_DRAIN_SECONDS"):
        Config.load({}, {"BOOTH_DRAIN_SECONDS": "-0.5"})

"""Real ``booth-server`` processes for the tests that kill, restart or spread nodes.

Each node is ``python -m booth_server.cli`` on a free loopback port, configured through its
environment like a deployed node, with its output in a file the test can show when it fails.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class NodeProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, clock_at: datetime | None = None) -> None:
        """Start (again); ``clock_at``: the instant its clock shows now."""
        env = dict(self.env)
        if clock_at is not None:
            env["BOOTH_CLOCK_START"] = clock_at.astimezone(UTC).isoformat()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "booth_server.cli"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
        )
        log.close()

    async def ready(self, within: float = 30.0) -> None:
        """Wait until ``/readyz`` answers 200."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.process is not None and self.process.poll() is None, self.output()
                try:
                    async with http.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert loop.time() < deadline, f"{self.name} not ready after {within} s:\n{self.output()}"
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        """Ask for a graceful stop (SIGTERM, as systemd sends); :meth:`exited` waits for it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    async def exited(self, within: float = 30.0) -> int:
        """The exit status, waited for without blocking the event loop (the test's booths must
        go on answering the server's closing handshakes meanwhile)."""
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, within)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


def node_env(
    name: str, port: int, database: str, tmp: Path, *, redis_url: str | None, prefix: str | None, **extra: str
) -> dict[str, str]:
    """The environment of one node: its own port and name, the cluster's database, Redis and secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTH_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "BOOTH_HOST": "127.0.0.1",
        "BOOTH_PORT": str(port),
        "BOOTH_DATABASE": database,
        "BOOTH_NODE_ID": name,
        "BOOTH_SECRET_FILE": str(tmp / "cluster.secret"),
        "BOOTH_LOG_LEVEL": "INFO",
    }
    if redis_url is not None:
        env["BOOTH_REDIS_URL"] = redis_url
    if prefix is not None:
        env["BOOTH_REDIS_PREFIX"] = prefix
    return env | extra


class ShiftedClock:
    """One shifted clock for every node of a test: each node is started showing the same instant."""

    def __init__(self, starts_at: datetime) -> None:
        self._offset = starts_at - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta


async def stop_all(nodes: list[NodeProcess]) -> None:
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(10)


def describe(nodes: list[NodeProcess]) -> dict[str, Any]:
    return {node.name: node.output() for node in nodes}


@dataclass
class RedisProcess:
    """A Redis server of the test's own (no persistence, as an operator's Redis that restarts
    empty would be), for tests that restart it or that run where the machine's Redis is out of
    reach (the loopback-only media namespace)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, within: float = 10.0) -> None:
        self.launch()
        await self.listening(within)

    def launch(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def listening(self, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                assert loop.time() < deadline, f"redis-server did not listen on {self.port} within {within} s"
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


async def login(http: aiohttp.ClientSession, base: str, email: str) -> dict[str, str]:
    """The bearer header of a demo account, logged in through ``base``."""
    from tests.conftest import DEMO_PASSWORD

    async with http.post(f"{base}/api/v1/tokens", json={"email": email, "password": DEMO_PASSWORD}) as r:
        assert r.status == 201, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def book_running_session(http: aiohttp.ClientSession, base: str, start: datetime, minutes: int) -> int:
    """Cantine A with SF A from ``start``, booked by the admin with an override: at short
    notice, already running, or off the 15-minute grid, as the test needs."""
    from tests.conftest import ADMIN, CANTINE_A, SF_A

    async with http.post(
        f"{base}/api/v1/bookings",
        headers=await login(http, base, ADMIN),
        json={
            "booths": [CANTINE_A, SF_A],
            "start": start.isoformat(),
            "duration_minutes": minutes,
            "title": "Paris meets San Francisco",
            "override_reason": "a test session",
        },
    ) as r:
        assert r.status == 201, await r.text()
        return int((await r.json())["id"])


async def pair_booths(http: aiohttp.ClientSession, base: str) -> dict[int, str]:
    """Device keys for Cantine A and SF A, issued by each venue's staff."""
    from tests.conftest import CANTINE_A, SF_A, STAFF_PARIS, STAFF_SF

    keys = {}
    for booth, staff in ((CANTINE_A, STAFF_PARIS), (SF_A, STAFF_SF)):
        async with http.post(
            f"{base}/api/v1/booths/{booth}/device-key", headers=await login(http, base, staff)
        ) as r:
            assert r.status == 201, await r.text()
            keys[booth] = (await r.json())["device_key"]
    return keys

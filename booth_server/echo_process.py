"""The server's side of the echo peer: start and supervise ``booth-echo``, and talk to it.

In the embedded default (no ``BOOTH_ECHO_URL``) the server starts ``booth-echo`` on a free
loopback port the first time a booth asks for a self-test, restarts it if it dies (backoff
1 s doubling to 30 s) and stops it on shutdown, so the README's two commands stay two. The
echo decodes and encodes media; keeping it in its own process keeps that work off the
signalling event loop. With ``BOOTH_ECHO_URL`` the server only talks to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
import time
from typing import Any

import aiohttp

from .config import Config

log = logging.getLogger(__name__)

START_WITHIN = 30.0  # seconds for a fresh booth-echo to answer /health (aiortc's import is slow)
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0


class EchoUnavailable(Exception):
    """The echo peer could not be reached or refused the request."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EchoPeer:
    """The echo peer as the server sees it: a base URL, and the process when embedded."""

    def __init__(self, config: Config) -> None:
        self.embedded = config.echo_url is None
        self.capacity = config.echo_capacity
        self._ice_addresses = config.echo_ice_addresses
        self._token = config.echo_token or (secrets.token_urlsafe(24) if self.embedded else None)
        self.url = (config.echo_url or "").rstrip("/")
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._session: aiohttp.ClientSession | None = None
        self._starting: asyncio.Lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready = asyncio.Event()

    # --- the process ----------------------------------------------------------------------

    async def ensure_running(self) -> None:
        """Start the embedded echo if it is not running; wait until it answers. An echo
        elsewhere (``BOOTH_ECHO_URL``) must answer its health check."""
        if not self.embedded:
            await self.health()
            return
        async with self._starting:
            if self._supervisor is None:
                self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        try:
            await asyncio.wait_for(self._ready.wait(), START_WITHIN)
        except TimeoutError:
            raise EchoUnavailable(f"booth-echo did not start within {START_WITHIN:g} s") from None

    async def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._start_once()
            except (OSError, EchoUnavailable) as exc:
                log.error("booth-echo failed to start: %s", exc)
            else:
                assert self.process is not None
                code = await self.process.wait()
                self._ready.clear()
                if self._stopping:
                    return
                log.error("booth-echo exited with status %s; restarting", code)
                self.restarts += 1
            if time.monotonic() - started > 60:
                backoff = BACKOFF_FIRST  # it ran a while: not a crash loop
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _start_once(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "webrtc.echo", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--capacity", str(self.capacity), "--watch-parent"]
        for address in self._ice_addresses:
            command += ["--ice-address", address]
        env = {**os.environ, "BOOTH_ECHO_TOKEN": self._token or ""}
        self.process = await asyncio.create_subprocess_exec(
            *command, env=env, stdin=asyncio.subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_WITHIN
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise EchoUnavailable(f"booth-echo exited with status {self.process.returncode}")
            with contextlib.suppress(EchoUnavailable):
                await self.health()
                self._ready.set()
                log.info("booth-echo (pid %d) ready at %s", self.process.pid, self.url)
                return
            await asyncio.sleep(0.1)
        self.process.kill()
        raise EchoUnavailable(f"booth-echo did not answer within {START_WITHIN:g} s")

    async def stop(self) -> None:
        self._stopping = True
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._session is not None:
            await self._session.close()

    # --- the API --------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            async with self._session.request(method, self.url + path, headers=headers, **kwargs) as response:
                return response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise EchoUnavailable(
                f"the echo peer at {self.url or '(none)'} cannot be reached: {exc}"
            ) from None

    async def health(self) -> dict[str, Any]:
        status, body = await self._request("GET", "/health")
        if status != 200:
            raise EchoUnavailable(f"the echo peer answered {status} to /health")
        return dict(body)

    async def open_session(self, offer_sdp: str) -> tuple[str, str]:
        """Hand the echo one leg's offer; returns (session id, answer sdp)."""
        await self.ensure_running()
        status, body = await self._request("POST", "/sessions", json={"sdp": offer_sdp})
        if status != 201:
            message = body.get("message") if isinstance(body, dict) else None
            raise EchoUnavailable(f"the echo peer refused the offer ({status}): {message}")
        return str(body["id"]), str(body["sdp"])

    async def close_session(self, session_id: str) -> dict[str, Any]:
        """Close one leg's session; returns what the echo saw, or {} when it could not say (the
        verdict then leaves out the checks that need the echo's side)."""
        try:
            status, body = await self._request("DELETE", f"/sessions/{session_id}")
        except EchoUnavailable as exc:
            log.warning("no report from echo session %s: %s", session_id, exc)
            return {}
        if status != 200 or not isinstance(body, dict):
            log.warning("no report from echo session %s: status %s", session_id, status)
            return {}
        return dict(body)

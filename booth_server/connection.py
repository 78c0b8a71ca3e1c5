"""One booth's websocket as the rest of the server sees it: an ordered outgoing queue.

Rooms and timers call :meth:`Connection.send` synchronously, in the order the protocol needs;
a single writer task per socket drains the queue, so no caller ever awaits a slow booth and no
two coroutines write to one socket. The heartbeat lives here too: the server's own pings and
the idle timeout of docs/protocol.md section 3, with the timings passed in (tests shorten them).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from webrtc.errors import CloseCode, ProtocolError
from webrtc.messages import Message, encode, error_message
from webrtc.ratelimit import RateLimiter

from .metrics import Metrics

log = logging.getLogger(__name__)

#: A booth that does not read its socket while this many messages wait is treated as gone
#: (closed like an idle socket: it resumes and gets the room messages replayed from history).
MAX_QUEUED = 1024
#: A close waits for the messages queued before it; after this many seconds (a booth that stopped
#: reading, so the writer is stuck) the socket is closed anyway, and a closing handshake that
#: takes longer is cut short.
CLOSE_WITHIN = 5.0


@dataclass(frozen=True)
class Timings:
    """Connection timings in seconds: the protocol's values unless a test shortens them."""

    heartbeat_interval: float = 20.0
    idle_timeout: float = 45.0
    auth_timeout: float = 10.0


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


@dataclass(frozen=True)
class _Control:
    kind: str  # "ping" or "pong"
    data: bytes = b""


class Connection:
    """An open signalling socket; ``booth_id`` is set once its ``hello`` was accepted."""

    def __init__(self, ws: web.WebSocketResponse, metrics: Metrics, now: float) -> None:
        self.ws = ws
        self.metrics = metrics
        self.booth_id: int | None = None
        self.key_id: int | None = None
        self.booking_id: int | None = None  # the room this socket is in
        self.connected_at: datetime | None = None
        self.last_heard = now
        self.limiter = RateLimiter(now)
        self.closing = False
        self._queue: asyncio.Queue[str | _Close | _Control] = asyncio.Queue()
        #: Set by the writer once everything before a close was sent: ``(code, reason)``. The
        #: reading task then closes the socket itself, so that aiohttp waits for the booth's
        #: closing frame (a close from another task would cut the TCP connection short).
        self.close_wanted: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.done = asyncio.Event()  # set when the socket is closed and its handler finished

    def __repr__(self) -> str:
        return f"<Connection booth={self.booth_id} room={self.booking_id}>"

    @property
    def authenticated(self) -> bool:
        return self.booth_id is not None

    def send(self, message: Message) -> None:
        """Queue one message; dropped silently once the socket is closing."""
        if self.closing:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            log.warning("booth %s does not read its socket; dropping it", self.booth_id)
            self.metrics.errors.labels("idle_timeout").inc()
            self.close(CloseCode.IDLE_TIMEOUT, "idle_timeout")
            return
        self._queue.put_nowait(encode(message))
        self.metrics.messages.labels("out", message.type).inc()

    def fail(self, exc: ProtocolError) -> None:
        """Tell the booth what went wrong, and close when the code says so."""
        self.send(error_message(exc))
        self.metrics.errors.labels(exc.code).inc()
        close_code = exc.spec.close_code
        if close_code is not None:
            self.close(close_code, exc.code)

    def close(self, code: int, reason: str) -> None:
        """Close after everything queued so far has been sent."""
        if self.closing:
            return
        self.closing = True
        self._queue.put_nowait(_Close(int(code), reason))
        asyncio.get_running_loop().call_later(CLOSE_WITHIN, self._want_close, int(code), reason)

    def _want_close(self, code: int, reason: str) -> None:
        if not self.close_wanted.done():
            self.close_wanted.set_result((code, reason))

    def pong(self, data: bytes) -> None:
        if not self.closing:
            self._queue.put_nowait(_Control("pong", data))

    async def run_writer(self) -> None:
        """Send what is queued, in order, until a close (handed to the reading task)."""
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _Close):
                    self._want_close(item.code, item.reason)
                    return
                if isinstance(item, _Control):
                    await (self.ws.ping(item.data) if item.kind == "ping" else self.ws.pong(item.data))
                else:
                    await self.ws.send_str(item)
        except (ConnectionError, RuntimeError):
            self.closing = True  # the peer went away under us; the reader sees it too

    async def run_heartbeat(self, timings: Timings) -> None:
        """Ping every ``heartbeat_interval``; close with ``idle_timeout`` after that much silence."""
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + timings.heartbeat_interval
        while not self.closing:
            now = loop.time()
            silent_until = self.last_heard + timings.idle_timeout
            if now >= silent_until:
                self.fail(ProtocolError("idle_timeout", f"nothing received for {timings.idle_timeout:g} s"))
                return
            if now >= next_ping:
                self._queue.put_nowait(_Control("ping"))
                next_ping = now + timings.heartbeat_interval
            await asyncio.sleep(min(next_ping, silent_until) - now)

    def auth_timed_out(self) -> None:
        if not self.authenticated:
            self.fail(ProtocolError("auth_timeout", "no valid hello in time"))

"""One booth's websocket as the rest of the server sees it: ordered, non-blocking sends.

Rooms and timers call :meth:`Connection.send` synchronously, in the order the protocol needs,
and no caller ever awaits a slow booth. A frame is written to the socket at once when nothing
waits before it (the common case: aiohttp only buffers it in the transport); when the transport
pushes back, what follows waits in a deque that one short-lived task drains, in order. No two
coroutines write to one socket, and a socket costs no task of its own beyond aiohttp's handler:
with thousands of idle booths connected, per-socket tasks, queues and events were half of the
server's memory per booth (docs/media-testing.md, the relay benchmark).

Closes are done by the reading task (the websocket handler): once everything queued before a
close is sent, the close is *wanted*, and the reader, interrupted if it is waiting for a frame,
closes the socket itself, so that aiohttp waits for the booth's closing frame (a close from
another task would cut the TCP connection short).

The heartbeat is not here per socket: :meth:`Connection.check_timers` is called by one sweep
for every socket (``SignallingNode.run_heartbeats``), with the timings of docs/protocol.md
section 3 passed in (tests shorten them).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from webrtc.core import Conn
from webrtc.errors import CloseCode, ProtocolError
from webrtc.limits import AUTH_TIMEOUT, HEARTBEAT_INTERVAL, IDLE_TIMEOUT
from webrtc.messages import Message, Relayed, encode_bytes, error_message
from webrtc.ratelimit import RateLimiter

from .metrics import Metrics

log = logging.getLogger(__name__)

#: A booth that does not read its socket while this many messages wait is treated as gone
#: (closed like an idle socket: it resumes and gets the room messages replayed from history).
MAX_QUEUED = 1024
#: A close waits for the messages queued before it; after this many seconds (a booth that stopped
#: reading, so the writes are stuck) the socket is closed anyway, and a closing handshake that
#: takes longer is cut short.
CLOSE_WITHIN = 5.0


@dataclass(frozen=True)
class Timings:
    """Connection timings in seconds: the protocol's values unless a test shortens them."""

    heartbeat_interval: float = HEARTBEAT_INTERVAL
    idle_timeout: float = IDLE_TIMEOUT
    auth_timeout: float = AUTH_TIMEOUT

    @property
    def sweep_every(self) -> float:
        """How often the shared sweep looks at every socket: a quarter of the shortest timing,
        at most a second (a ping or a timeout is at most that late)."""
        return max(0.01, min(1.0, self.heartbeat_interval / 4, self.idle_timeout / 4, self.auth_timeout / 4))


class _Close:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class _Control:
    __slots__ = ("data", "kind")

    def __init__(self, kind: str, data: bytes = b"") -> None:
        self.kind = kind  # "ping" or "pong"
        self.data = data


_Item = bytes | _Close | _Control  # bytes: a text frame's payload, UTF-8 JSON
TEXT = WSMsgType.TEXT


class Connection:
    """An open signalling socket; ``booth_id`` is set once its ``hello`` was accepted."""

    __slots__ = (
        "_backlog",
        "_close_wish",
        "_done",
        "_drainer",
        "_finished",
        "_interrupted",
        "_reader",
        "_reading",
        "booth_id",
        "closing",
        "id",
        "last_heard",
        "limiter",
        "metrics",
        "next_ping",
        "opened_at",
        "state",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, metrics: Metrics, now: float) -> None:
        self.ws = ws
        self.metrics = metrics
        self.id = ""  # given by the node: unique across nodes
        self.booth_id: int | None = None
        #: What the signalling core knows of this connection once its hello was accepted (the
        #: booth, the room it is in); the core owns it, the socket only reads it.
        self.state: Conn | None = None
        self.opened_at = now
        self.last_heard = now
        self.next_ping: float | None = None  # set by the first sweep
        self.limiter = RateLimiter(now)
        self.closing = False
        #: Frames waiting behind one the transport has not taken yet; None when nothing waits
        #: (then :meth:`send` writes at once).
        self._backlog: deque[_Item] | None = None
        #: ``(code, reason)`` once everything before a close was sent: the reader closes.
        self._close_wish: tuple[int, str] | None = None
        self._reader: asyncio.Task[Any] | None = None
        self._reading = False  # the reader is waiting for a frame (and may be interrupted)
        self._interrupted = False
        self._finished = False
        self._done: asyncio.Future[None] | None = None  # made only when someone waits
        self._drainer: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        room = self.state.booking if self.state is not None else None
        return f"<Connection {self.id} booth={self.booth_id} room={room}>"

    @property
    def authenticated(self) -> bool:
        return self.booth_id is not None

    # --- sending ----------------------------------------------------------------------------

    def send(self, message: Message | Relayed) -> None:
        """Send one message in order; dropped silently once the socket is closing."""
        if self.closing:
            return
        backlog = self._backlog
        if backlog is not None and len(backlog) >= MAX_QUEUED:
            log.warning("booth %s does not read its socket; dropping it", self.booth_id)
            self.metrics.error("idle_timeout")
            self.close(CloseCode.IDLE_TIMEOUT, "idle_timeout")
            return
        self.metrics.sent[message.type] += 1
        data = message.data if isinstance(message, Relayed) else encode_bytes(message)
        if backlog is None:
            self._run(self.ws.send_frame(data, TEXT))  # the common case, without _put's checks
        else:
            backlog.append(data)

    def fail(self, exc: ProtocolError) -> None:
        """Tell the booth what went wrong, and close when the code says so."""
        self.send(error_message(exc))
        self.metrics.error(exc.code)
        close_code = exc.spec.close_code
        if close_code is not None:
            self.close(close_code, exc.code)

    def close(self, code: int, reason: str) -> None:
        """Close after everything queued so far has been sent."""
        if self.closing:
            return
        self.closing = True
        self._put(_Close(int(code), reason))
        asyncio.get_running_loop().call_later(CLOSE_WITHIN, self._want_close, int(code), reason)

    def pong(self, data: bytes) -> None:
        if not self.closing:
            self._put(_Control("pong", data))

    def _put(self, item: _Item) -> None:
        """Hand one item to the socket now, or queue it behind what the transport has not taken."""
        if self._backlog is not None:
            self._backlog.append(item)
        elif isinstance(item, _Close):
            self._want_close(item.code, item.reason)
        else:
            self._run(self._sending(item))

    def _run(self, sending: Coroutine[Any, Any, None]) -> None:
        """Run a send now; if the transport pushes back, finish it (and what queues behind it)
        in a task."""
        try:
            # aiohttp's send writes into the transport synchronously, and only awaits when the
            # transport asks it to slow down: run it by hand up to that point.
            waiting = sending.send(None)
        except StopIteration:
            return
        except (ConnectionError, RuntimeError):
            self.closing = True  # the peer went away under us; the reader sees it too
            return
        self._backlog = deque()
        self._drainer = asyncio.ensure_future(self._drain(sending, waiting))

    def _sending(self, item: bytes | _Control) -> Coroutine[Any, Any, None]:
        if isinstance(item, bytes):
            return self.ws.send_frame(item, TEXT)
        return self.ws.ping(item.data) if item.kind == "ping" else self.ws.pong(item.data)

    async def _drain(self, sending: Coroutine[Any, Any, None], waiting: Any) -> None:
        """Finish a send the transport held back, then everything queued behind it, in order."""
        try:
            await _resume(sending, waiting)
            backlog = self._backlog
            while backlog:
                item = backlog.popleft()
                if isinstance(item, _Close):
                    self._want_close(item.code, item.reason)
                    return
                await self._sending(item)
        except (ConnectionError, RuntimeError):
            self.closing = True
        finally:
            self._backlog = None
            self._drainer = None

    # --- closing, by the reading task -----------------------------------------------------

    def _want_close(self, code: int, reason: str) -> None:
        if self._close_wish is not None or self._finished:
            return
        self._close_wish = (code, reason)
        if self._reading and self._reader is not None:
            self._interrupted = True
            self._reader.cancel()

    @property
    def close_wish(self) -> tuple[int, str] | None:
        """``(code, reason)`` once the socket should be closed by its reader."""
        return self._close_wish

    async def receive(self) -> Any:
        """The next frame, for the reading task; returns None if a close is wanted instead."""
        if self._close_wish is not None:
            return None
        if self._reader is None:
            self._reader = asyncio.current_task()
        self._reading = True
        try:
            return await self.ws.receive()
        except asyncio.CancelledError:
            task = self._reader
            if not self._interrupted or task is None or task.uncancel() > 0:
                raise  # a real cancellation (aiohttp lost the connection), not ours
            return None
        finally:
            self._reading = False
            self._interrupted = False

    def finished(self) -> None:
        """The handler is done with this socket."""
        self._finished = True
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def wait_finished(self) -> None:
        if self._finished:
            return
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._done)

    # --- timers, from the registry's sweep -------------------------------------------------

    def check_timers(self, now: float, timings: Timings) -> None:
        """Auth timeout, idle timeout and the server's ping, as due at loop time ``now``."""
        if self.closing:
            return
        if self.booth_id is None and now >= self.opened_at + timings.auth_timeout:
            self.fail(ProtocolError("auth_timeout", "no valid hello in time"))
        elif now >= self.last_heard + timings.idle_timeout:
            self.fail(ProtocolError("idle_timeout", f"nothing received for {timings.idle_timeout:g} s"))
        elif self.next_ping is None:
            self.next_ping = self.opened_at + timings.heartbeat_interval
        elif now >= self.next_ping:
            self._put(_Control("ping"))
            self.next_ping = now + timings.heartbeat_interval


async def _resume(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Go on running a coroutine that was started by hand and is waiting for ``waiting``."""
    while True:
        try:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait((waiting,))
        except asyncio.CancelledError:
            coroutine.close()
            raise
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return

"""The booth signalling endpoint, ``GET /api/v1/signalling`` upgraded to a WebSocket.

This module checks the upgrade (Origin, draining), reads frames, applies the per-connection
rate limit, authenticates the ``hello`` and hands every other message to the
:class:`~booth_server.node.SignallingNode` (the shell around the sans-IO core). Protocol:
docs/protocol.md.

Origin rule: a browser's ``Origin`` must be the server's own origin (``Config.origin``; when
no public origin is configured, also the origin the request reached) or one of
``Config.allowed_origins``. A request without ``Origin`` is not from a browser and must carry
``Authorization: Device <key>``. Anything else is refused with 403 before the upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from scheduler.changes import BookingChanged
from scheduler.devices import DeviceKeys
from scheduler.errors import Forbidden
from scheduler.room_logs import RoomLogs
from webrtc import schema, turn
from webrtc.errors import RATE_LIMIT_CLOSE, CloseCode, ProtocolError
from webrtc.limits import MAX_MESSAGE_BYTES, MESSAGE_RATE
from webrtc.messages import (
    SIGNAL_TYPES,
    CallStats,
    ClientMessage,
    Hello,
    Join,
    Leave,
    Ping,
    Pong,
    SelfTestOffer,
    SelfTestReport,
    SelfTestStart,
    dump,
    load,
    parse,
    readable_id,
)
from webrtc.ratelimit import RateLimiter, Verdict

from . import booth_auth, quality, selftest
from .bus import Bus, InProcessBus
from .clock import Clock
from .config import Config, ConfigError
from .connection import CLOSE_WITHIN, Connection, Timings
from .errors import error_response
from .keys import (
    BOOKINGS,
    CLOCK,
    CONFIG,
    DATABASE,
    DEVICES,
    LIFECYCLE,
    METRICS,
    SERVER_SECRET,
    SIGNALLING,
    STORE,
)
from .node import SignallingNode

log = logging.getLogger(__name__)

PATH = "/api/v1/signalling"
#: The compiled schema of each signal a room relays, checked on every one of them.
SIGNAL_VALIDATORS = schema.validators("client", SIGNAL_TYPES)
#: Frames over 64 KiB get ``error`` ``message_too_big`` and the close 1009 from ``decode``; past
#: this hard limit aiohttp stops reading and closes with 1009 by itself (no error message).
HARD_FRAME_LIMIT = 2 * MAX_MESSAGE_BYTES
MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG


class BoothSocket(web.WebSocketResponse):
    """The booth's websocket. Every close carries its error code as the reason: aiohttp closes a
    frame over the hard limit by itself with 1009 and no reason, so that reason is filled in."""

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True) -> bool:
        if code == MESSAGE_TOO_BIG and not message:
            message = b"message_too_big"
        return await super().close(code=code, message=message, drain=drain)


def turn_config(config: Config) -> turn.TurnConfig:
    """The STUN/TURN servers of the configuration, checked."""
    try:
        return turn.TurnConfig(
            stun_urls=config.stun_urls, turn_urls=config.turn_urls, secret=config.turn_secret
        )
    except ValueError as exc:
        raise ConfigError(f"BOOTH_STUN_URLS / BOOTH_TURN_URLS / BOOTH_TURN_SECRET: {exc}") from None


def check_origin(request: web.Request, config: Config) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        if booth_auth.device_key_from_header(request.headers.get("Authorization")) is None:
            raise Forbidden(
                "a client without an Origin header must send 'Authorization: Device <key>'",
                field="Origin",
                code="origin",
            )
        return
    allowed = {config.origin, *(o.rstrip("/") for o in config.allowed_origins)}
    if not config.public_origin:
        allowed.add(f"{request.scheme}://{request.host}")
    if origin.rstrip("/") not in allowed:
        raise Forbidden(
            "this Origin may not open the booth socket; see BOOTH_ALLOWED_ORIGINS",
            field="Origin",
            code="origin",
        )


async def signalling(request: web.Request) -> web.StreamResponse:
    """One booth's socket, from the upgrade to the close."""
    app = request.app
    registry = app[SIGNALLING]
    if app[LIFECYCLE].draining:
        return error_response(503, "draining", "the server is shutting down; reconnect in a few seconds")
    check_origin(request, app[CONFIG])
    ws = BoothSocket(
        max_msg_size=HARD_FRAME_LIMIT, compress=False, autoping=False, heartbeat=None, decode_text=False
    )
    if not ws.can_prepare(request).ok:
        return error_response(400, "websocket_required", f"{PATH} speaks WebSocket only (docs/protocol.md)")
    await ws.prepare(request)
    conn = Connection(ws, app[METRICS], asyncio.get_running_loop().time())
    registry.opened(conn)
    try:
        await _read(request, conn)
    finally:
        registry.closed(conn)
        conn.finished()
    return ws


async def _read(request: web.Request, conn: Connection) -> None:
    """Handle frames one at a time until the booth closes, or the server wants to close."""
    ws, loop = conn.ws, asyncio.get_running_loop()
    app = request.app
    registry, clock, metrics = app[SIGNALLING], app[CLOCK], app[METRICS]
    while True:
        frame = await conn.receive()
        if frame is None:  # the server wants to close, after what was queued before
            code, reason = conn.close_wish or (CloseCode.NORMAL, "")
            # On timeout aiohttp's close() is cancelled and drops the connection by itself.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ws.close(code=code, message=reason.encode()), CLOSE_WITHIN)
            return
        conn.last_heard = now = loop.time()
        kind = frame.type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            verdict = conn.limiter.check(now)
            if verdict is not Verdict.ALLOW:
                conn.fail(
                    ProtocolError(
                        "rate_limited", f"over {MESSAGE_RATE:g} messages per second: the message was dropped"
                    )
                )
                if verdict is Verdict.CLOSE:
                    conn.close(RATE_LIMIT_CLOSE, "rate_limited")
            elif kind is WSMsgType.BINARY:
                conn.fail(ProtocolError("bad_json", "binary frames are not accepted: send JSON text"))
            else:
                handling = _on_text(request, registry, clock, conn, frame.data)
                if handling is not None:
                    await handling
        elif kind is WSMsgType.PING:
            conn.pong(frame.data)
        elif kind is WSMsgType.ERROR:
            if getattr(frame.data, "code", None) == MESSAGE_TOO_BIG:  # over the hard limit
                metrics.error("message_too_big")
            return
        elif kind in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return


def _on_text(
    request: web.Request, registry: SignallingNode, clock: Clock, conn: Connection, data: bytes
) -> Coroutine[Any, Any, None] | None:
    """One text frame. A signal from a booth in a room (a call's traffic) is checked against
    its schema and handed on here and now, as a dict (``SignallingNode.signal``); any other
    message is parsed into its dataclass and returned as the coroutine that handles it."""
    wire = None
    try:
        wire = load(data)
        message_type = wire.get("type") if type(wire) is dict else None
        state = conn.state
        if isinstance(message_type, str) and state is not None and state.booking is not None:
            validator = SIGNAL_VALIDATORS.get(message_type)
            if validator is not None:
                if not validator.is_valid(wire):
                    schema.validate(wire, "client", message_type)  # raises, saying what is wrong
                conn.metrics.received[message_type] += 1
                registry.signal(conn, wire)
                return None
        message = parse(wire)
        assert isinstance(message, ClientMessage)
        conn.metrics.received[message.type] += 1
        return _on_message(request, conn, message)
    except ProtocolError as exc:
        _refuse(conn, exc, readable_id(wire) if type(wire) is dict else None)
    except Exception:
        _failed(conn)
    return None


async def _on_message(request: web.Request, conn: Connection, message: ClientMessage) -> None:
    try:
        if conn.authenticated:
            await _dispatch(request, conn, message)
        else:
            await _hello(request, conn, message)
    except ProtocolError as exc:
        _refuse(conn, exc, message.id)
    except Exception:
        _failed(conn)


def _refuse(conn: Connection, exc: ProtocolError, ref: str | int | None) -> None:
    """Answer a refused message with its error, echoing the message's ``id`` as ``ref``."""
    if exc.ref is None:
        exc.ref = ref
    conn.fail(exc)


def _failed(conn: Connection) -> None:
    log.exception("signalling failed for booth %s", conn.booth_id)
    conn.fail(ProtocolError("internal_error", "the server failed to handle this message; reconnect"))


async def _hello(request: web.Request, conn: Connection, message: ClientMessage) -> None:
    if not isinstance(message, Hello):
        raise ProtocolError("unauthorized", "the first message must be hello")
    app = request.app
    key = await booth_auth.authenticate(
        message, request.headers.get("Authorization"), app[DEVICES], app[CLOCK].now(), app[SERVER_SECRET]
    )
    if conn.closing:
        return  # timed out while the key was looked up
    now = app[CLOCK].now()
    # The booth's burst of 100 starts after its hello: a fast server must not cost it a message
    # of its first burst (a slow one used to refill it while handling the burst).
    conn.limiter = RateLimiter(asyncio.get_running_loop().time())
    await app[SIGNALLING].hello(
        conn, key, message, booth_auth.issue_session_token(key, now, app[SERVER_SECRET])
    )


async def _dispatch(request: web.Request, conn: Connection, message: ClientMessage) -> None:
    registry = request.app[SIGNALLING]
    if isinstance(message, Ping):
        conn.send(Pong(ref=message.id))
    elif isinstance(message, Hello):
        raise ProtocolError("unexpected_message", "this connection is already authenticated")
    elif isinstance(message, Join):
        await registry.join(conn, message)
    elif isinstance(message, Leave):
        registry.leave(conn, message)
    elif isinstance(message, SelfTestStart | SelfTestOffer | SelfTestReport):
        await selftest.handle(request.app, conn.booth_id, message, conn.send)  # type: ignore[arg-type]
    elif isinstance(message, CallStats):
        await quality.handle(request.app, conn.booth_id, message, conn.send)  # type: ignore[arg-type]
    else:  # a signal from a booth that is in no room (or a stale one): the core says why
        registry.signal(conn, dump(message))


def on_booking_changed(app: web.Application) -> Callable[[BookingChanged], Coroutine[Any, Any, None]]:
    """The booking service's subscriber: a committed change reaches the room (closed, extended
    or moved, on every node through its log) and the idle booths that show it."""

    async def changed(event: BookingChanged) -> None:
        view = event.booking
        app[SIGNALLING].booking_changed(
            view.id, event.kind.value, [b.id for b in view.booths], view.start, view.end, event.booth_ids
        )

    return changed


async def _signalling_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    bus = make_bus(app)
    registry = SignallingNode(
        node_id=node_id(config),
        clock=app[CLOCK],
        store=app[STORE],
        turn_config=turn_config(config),
        metrics=app[METRICS],
        timings=Timings(config.signal_heartbeat, config.signal_idle_timeout, config.signal_auth_timeout),
        bus=bus,
    )
    app[SIGNALLING] = registry
    app[DEVICES] = DeviceKeys(app[DATABASE])
    await bus.start(registry)
    unsubscribe = app[CLOCK].on_advance(registry.wake)
    unsubscribe_bookings = app[BOOKINGS].subscribe(on_booking_changed(app))
    timers = asyncio.create_task(registry.run())
    heartbeats = asyncio.create_task(registry.run_heartbeats())
    yield
    unsubscribe()
    unsubscribe_bookings()
    await registry.shutdown(wait=1.0)  # if on_shutdown did not run (startup failed half-way)
    for task in (timers, heartbeats):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await bus.stop()


def node_id(config: Config) -> str:
    """This node's name in connection ids and logs: ``BOOTH_NODE_ID``, else host and pid."""
    return config.node_id or f"{socket.gethostname()}-{os.getpid()}"


def make_bus(app: web.Application) -> Bus:
    """In-process (with the room logs in the database) unless ``BOOTH_REDIS_URL`` is set."""
    config = app[CONFIG]
    if config.redis_url:
        from .redis_bus import RedisBus

        return RedisBus(config.redis_url, app[CLOCK], RoomLogs(app[DATABASE]), config.redis_prefix)
    return InProcessBus(RoomLogs(app[DATABASE]))


async def _on_shutdown(app: web.Application) -> None:
    registry = app.get(SIGNALLING)
    if registry is not None:
        await registry.shutdown()


def setup(app: web.Application) -> None:
    """Add the endpoint, its background task, graceful shutdown and /metrics to ``app``.

    Call after the database context is registered: the registry needs the store.
    """
    turn_config(app[CONFIG])  # a bad ICE configuration fails here, not at the first booth
    app.cleanup_ctx.append(_signalling_ctx)
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get(PATH, signalling)
    app.router.add_get("/metrics", app[METRICS].handler)

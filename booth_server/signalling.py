"""The booth signalling endpoint, ``GET /api/v1/signalling`` upgraded to a WebSocket.

This module checks the upgrade (Origin, draining), reads frames, applies the per-connection
rate limit, authenticates the ``hello`` and hands every other message to the
:class:`~booth_server.rooms.RoomRegistry`. Protocol: docs/protocol.md.

Origin rule: a browser's ``Origin`` must be the server's own origin (``Config.origin``; when
no public origin is configured, also the origin the request reached) or one of
``Config.allowed_origins``. A request without ``Origin`` is not from a browser and must carry
``Authorization: Device <key>``. Anything else is refused with 403 before the upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any

from aiohttp import WSMsgType, web

from scheduler.devices import DeviceKeys
from scheduler.errors import Forbidden
from scheduler.model import BookingView
from webrtc import schema, turn
from webrtc.errors import RATE_LIMIT_CLOSE, CloseCode, ProtocolError
from webrtc.limits import MAX_MESSAGE_BYTES
from webrtc.messages import SIGNAL_TYPES, ClientMessage, Hello, Join, Ping, Pong, load, parse, readable_id
from webrtc.ratelimit import RateLimiter, Verdict

from . import booth_auth
from .clock import Clock
from .config import Config, ConfigError
from .connection import CLOSE_WITHIN, Connection, Timings
from .errors import error_response
from .keys import CLOCK, CONFIG, DATABASE, DEVICES, METRICS, SERVER_SECRET, SIGNALLING, STORE
from .rooms import RoomRegistry

log = logging.getLogger(__name__)

PATH = "/api/v1/signalling"
#: The compiled schema of each signal a room relays, checked on every one of them.
SIGNAL_VALIDATORS = schema.validators("client", SIGNAL_TYPES)
#: Frames over 64 KiB get ``error`` ``message_too_big`` and the close 1009 from ``decode``; past
#: this hard limit aiohttp stops reading and closes with 1009 by itself (no error message).
HARD_FRAME_LIMIT = 2 * MAX_MESSAGE_BYTES
MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG


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
    if registry.draining:
        return error_response(503, "draining", "the server is shutting down; reconnect in a few seconds")
    check_origin(request, app[CONFIG])
    ws = web.WebSocketResponse(
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
        registry.detach(conn)
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
                    ProtocolError("rate_limited", "over 50 messages per second: the message was dropped")
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
    request: web.Request, registry: RoomRegistry, clock: Clock, conn: Connection, data: bytes
) -> Coroutine[Any, Any, None] | None:
    """One text frame. A signal from a booth in a room (a call's traffic) is checked against
    its schema and relayed here and now, as a dict (``RoomRegistry.relay``); any other message
    is parsed into its dataclass and returned as the coroutine that handles it."""
    wire = None
    try:
        wire = load(data)
        message_type = wire.get("type") if type(wire) is dict else None
        if isinstance(message_type, str) and conn.booking_id is not None:
            validator = SIGNAL_VALIDATORS.get(message_type)
            if validator is not None:
                if not validator.is_valid(wire):
                    schema.validate(wire, "client", message_type)  # raises, saying what is wrong
                conn.metrics.received[message_type] += 1
                registry.relay(conn, wire, clock.now())
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
    app[SIGNALLING].attach(
        conn, key, message, booth_auth.issue_session_token(key, now, app[SERVER_SECRET]), now
    )


async def _dispatch(request: web.Request, conn: Connection, message: ClientMessage) -> None:
    registry, now = request.app[SIGNALLING], request.app[CLOCK].now()
    if isinstance(message, Ping):
        conn.send(Pong(ref=message.id))
    elif isinstance(message, Hello):
        raise ProtocolError("unexpected_message", "this connection is already authenticated")
    elif isinstance(message, Join):
        await registry.join(conn, message, now)
    else:
        registry.receive(conn, message, now)  # type: ignore[arg-type]  # leave or a signal


async def bookings_changed(
    app: web.Application, booth_ids: Iterable[int], booking: BookingView | None = None
) -> None:
    """Call after a booking was created, changed or cancelled: the live room follows (closed,
    extended) and idle booths that show or should show it get a fresh ``schedule``.

    Never raises: the booking is already stored, and a booth will catch up on reconnect.
    """
    registry = app.get(SIGNALLING)
    if registry is None:
        return
    try:
        affected = set(booth_ids)
        if booking is not None:
            registry.booking_changed(booking, app[CLOCK].now())
            affected |= {b.id for b in booking.booths} | registry.booths_showing(booking.id)
        for booth in sorted(affected):
            await registry.push_schedule(booth)
    except Exception:
        log.exception("could not tell the booths about a booking change")


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: 503 while draining for a shutdown, so load balancers stop sending booths."""
    registry = request.app.get(SIGNALLING)
    if registry is None or registry.draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready"})


async def _signalling_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    registry = RoomRegistry(
        clock=app[CLOCK],
        store=app[STORE],
        turn_config=turn_config(config),
        metrics=app[METRICS],
        timings=Timings(config.signal_heartbeat, config.signal_idle_timeout, config.signal_auth_timeout),
    )
    app[SIGNALLING] = registry
    app[DEVICES] = DeviceKeys(app[DATABASE])
    unsubscribe = app[CLOCK].on_advance(registry.wake)
    timers = asyncio.create_task(registry.run())
    heartbeats = asyncio.create_task(registry.run_heartbeats())
    yield
    unsubscribe()
    await registry.shutdown(wait=1.0)  # if on_shutdown did not run (startup failed half-way)
    for task in (timers, heartbeats):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _on_shutdown(app: web.Application) -> None:
    registry = app.get(SIGNALLING)
    if registry is not None:
        await registry.shutdown()


def setup(app: web.Application) -> None:
    """Add the endpoint, its background task, graceful shutdown, /readyz and /metrics to ``app``.

    Call after the database context is registered: the registry needs the store.
    """
    turn_config(app[CONFIG])  # a bad ICE configuration fails here, not at the first booth
    app.cleanup_ctx.append(_signalling_ctx)
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get(PATH, signalling)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", app[METRICS].handler)

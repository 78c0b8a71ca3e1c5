"""``booth-echo``: the self-test echo peer as a process of its own, with a small HTTP API.

Media work never runs on the signalling server's event loop: ``booth-server`` reaches this
process over HTTP (on loopback when it starts it itself, or ``BOOTH_ECHO_URL`` on another
host). The API, used only by the server (docs/selftest.md):

- ``GET /health`` -> ``{"status": "ok", "capacity": N, "active": k}``
- ``POST /sessions`` ``{"sdp": offer}`` -> 201 ``{"id": ..., "sdp": answer}``; 503 ``busy``
  when ``capacity`` sessions are open (the server queues before that happens)
- ``DELETE /sessions/{id}`` -> what the session saw (frames, black frames, audio level, RTCP
  figures), and the session is closed

A session closes by itself after ``--lifetime`` seconds. With ``BOOTH_ECHO_TOKEN`` set, every
request but ``/health`` needs ``Authorization: Bearer <token>``. ``--watch-parent`` (the
embedded echo) stops it when the process that started it is gone.

    booth-echo --host 127.0.0.1 --port 8091 --capacity 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from webrtc.echo_peer import EchoSession, use_host_addresses

log = logging.getLogger("booth_echo")

MAX_OFFER_BYTES = 128 * 1024
SESSIONS = web.AppKey("sessions", dict)
SETTINGS = web.AppKey("settings", argparse.Namespace)
CLOSING: web.AppKey[set[Any]] = web.AppKey("closing")


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def _authorize(request: web.Request, handler: Any) -> web.StreamResponse:
    token = request.app[SETTINGS].token
    if token and request.path != "/health":
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return _json_error(401, "unauthorized", "missing or wrong bearer token")
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response(
        {"status": "ok", "capacity": settings.capacity, "active": len(request.app[SESSIONS])}
    )


async def create_session(request: web.Request) -> web.Response:
    sessions: dict[str, EchoSession] = request.app[SESSIONS]
    settings = request.app[SETTINGS]
    try:
        body = await request.json()
    except ValueError:
        return _json_error(400, "invalid_body", 'the body must be JSON: {"sdp": offer}')
    sdp = body.get("sdp") if isinstance(body, dict) else None
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_OFFER_BYTES:
        return _json_error(400, "invalid_sdp", "`sdp` must be an SDP offer starting with v=0")
    if len(sessions) >= settings.capacity:
        return _json_error(503, "busy", f"{settings.capacity} self-tests are running")
    session = EchoSession("es_" + secrets.token_urlsafe(12))
    sessions[session.id] = session
    try:
        answer = await asyncio.wait_for(session.answer(sdp), 10)
    except Exception as exc:  # noqa: BLE001  (a bad offer: aiortc raises many kinds)
        sessions.pop(session.id, None)
        await session.close()
        return _json_error(400, "invalid_sdp", f"the offer was refused: {str(exc)[:200]}")
    asyncio.get_running_loop().call_later(settings.lifetime, _expire, request.app, session.id)
    return web.json_response({"id": session.id, "sdp": answer}, status=201)


def _expire(app: web.Application, session_id: str) -> None:
    session = app[SESSIONS].pop(session_id, None)
    if session is not None:
        log.info("session %s expired", session_id)
        asyncio.get_running_loop().create_task(session.close())


async def delete_session(request: web.Request) -> web.Response:
    session = request.app[SESSIONS].pop(request.match_info["id"], None)
    if session is None:
        return _json_error(404, "unknown_session", "no such session (finished or expired)")
    try:
        report = await session.report()
    finally:
        # Closing a peer connection can take a while on a loaded host: answer first.
        closing = asyncio.get_running_loop().create_task(session.close())
        request.app[CLOSING].add(closing)
        closing.add_done_callback(request.app[CLOSING].discard)
    return web.json_response(report)


async def _sessions_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SESSIONS] = {}
    app[CLOSING] = set()
    yield
    closing: set[Any] = app[CLOSING]
    for task in list(closing):
        await task
    for session in list(app[SESSIONS].values()):
        await session.close()
    app[SESSIONS].clear()


def make_app(settings: argparse.Namespace) -> web.Application:
    app = web.Application(middlewares=[_authorize], client_max_size=MAX_OFFER_BYTES + 1024)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_sessions_ctx)
    app.router.add_get("/health", health)
    app.router.add_post("/sessions", create_session)
    app.router.add_delete("/sessions/{id}", delete_session)
    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="booth-echo", description="The self-test echo peer (aiortc).")
    parser.add_argument("--host", default=os.environ.get("BOOTH_ECHO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=os.environ.get("BOOTH_ECHO_PORT", "8091"))
    parser.add_argument(
        "--capacity",
        type=int,
        default=os.environ.get("BOOTH_ECHO_CAPACITY", "4"),
        help="self-test sessions at once (default %(default)s)",
    )
    parser.add_argument("--lifetime", type=float, default=60.0, help="seconds a session may live")
    parser.add_argument(
        "--ice-address",
        action="append",
        default=[a for a in os.environ.get("BOOTH_ECHO_ICE_ADDRESSES", "").split(",") if a.strip()],
        help="gather host candidates on this address only (repeatable; default: every interface)",
    )
    parser.add_argument(
        "--watch-parent",
        action="store_true",
        help="stop when the process that started this one is gone (booth-server's embedded echo)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if not 1 <= args.capacity <= 256:
        parser.error(f"--capacity {args.capacity}: give 1 to 256")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port")
    args.token = os.environ.get("BOOTH_ECHO_TOKEN") or None
    return args


async def _serve(settings: argparse.Namespace) -> None:
    if settings.ice_address:
        use_host_addresses(settings.ice_address)
    runner = web.AppRunner(make_app(settings), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.info("booth-echo listening on %s:%s, capacity %d", settings.host, settings.port, settings.capacity)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    watching = loop.create_task(_watch_parent(os.getppid(), stop)) if settings.watch_parent else None
    await stop.wait()
    if watching is not None:
        watching.cancel()
    await runner.cleanup()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop once ``parent`` is gone: a booth-server killed outright (SIGKILL, the OOM killer)
    cannot stop its embedded echo, which would otherwise live on, orphaned, holding its port."""
    while True:  # nothing signals a parent's death to a child: look each second
        await asyncio.sleep(1.0)
        if os.getppid() != parent:
            break
    log.warning("booth-server (pid %d) is gone: stopping", parent)
    stop.set()


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        print(f"booth-echo: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``booth-server``: serve (default), migrate, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from scheduler.database import Database, safe_url
from scheduler.errors import SchedulerError
from scheduler.store import Store

from . import demo, logs
from .app import create_app
from .clock import Clock
from .config import Config, ConfigError, parse_drain_seconds, parse_instant
from .keys import LIFECYCLE
from .lifecycle import STOP_SIGNALS

log = logging.getLogger("booth_server")
#: Connections the kernel queues before the server accepts them (capped by net.core.somaxconn).
#: aiohttp's default of 128 drops the SYNs of a join storm (every booth reconnecting after a
#: restart), and each dropped booth waits 1, 3, 7, 15… seconds for its TCP retry.
LISTEN_BACKLOG = 4096

#: After the drain and the sockets' close, requests still running get this long to finish.
SHUTDOWN_TIMEOUT = 15.0
#: How long an idle HTTP keep-alive connection stays open (aiohttp's run_app default).


def _instant(value: str) -> Any:
    try:
        return parse_instant(value, "--clock-start")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _drain_seconds(value: str) -> float:
    try:
        return parse_drain_seconds(value, "--drain-seconds")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0–65535)")
    return int(value)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///path.db (default sqlite:///sebastian.db) or postgresql://… [BOOTH_DATABASE]",
    )
    common.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="[BOOTH_LOG_LEVEL]"
    )
    common.add_argument(
        "--secret-file",
        metavar="PATH",
        help="the server's signing secret, created with mode 0600 if missing "
        "(default: beside the SQLite file, else ./sebastian.secret) [BOOTH_SECRET_FILE]",
    )

    top = argparse.ArgumentParser(
        prog="booth-server",
        parents=[common],
        description="Booth scheduling and signalling server for Sebastian.",
    )
    sub = top.add_subparsers(dest="command")
    serve = sub.add_parser("serve", parents=[common], help="run the server (the default)")
    for target in (top, serve):
        target.add_argument("--host", help="address to listen on (default 127.0.0.1) [BOOTH_HOST]")
        target.add_argument("--port", type=_port, help="port (default 8080) [BOOTH_PORT]")
        target.add_argument(
            "--demo",
            action="store_true",
            default=None,
            help="seed the demo venues, booths and accounts [BOOTH_DEMO]",
        )
        target.add_argument(
            "--redis",
            dest="redis_url",
            metavar="URL",
            help="redis://host:6379/0: share signalling between several nodes (needs PostgreSQL) [BOOTH_REDIS_URL]",
        )
        target.add_argument("--node-id", help="this node's name in logs (default: host-pid) [BOOTH_NODE_ID]")
        target.add_argument(
            "--clock-start",
            type=_instant,
            metavar="ISO-INSTANT",
            help="start the server clock at this instant, e.g. 2027-03-16T15:55:00Z [BOOTH_CLOCK_START]",
        )
        target.add_argument(
            "--drain-seconds",
            type=_drain_seconds,
            metavar="SECONDS",
            help="on SIGTERM/SIGINT, answer /readyz 503 this long before closing (default 10, "
            "0-300) [BOOTH_DRAIN_SECONDS]",
        )
    sub.add_parser("migrate", parents=[common], help="bring the database schema up to date and exit")
    sub.add_parser("demo", parents=[common], help="seed the demo data (idempotent) and exit")
    return top


async def _with_store(config: Config, seed: bool) -> None:
    database = Database(config.database)
    try:
        await database.migrate()
        if seed:
            demo.announce(await demo.seed(Store(database), Clock(config.clock_start).now()))
        else:
            print(f"database at {config.database} is up to date")
    finally:
        await database.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    flags = {key: value for key, value in vars(args).items() if key != "command"}
    try:
        config = Config.load(flags)
    except ConfigError as exc:
        print(f"booth-server: error: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    command = args.command or "serve"
    try:
        if command in ("migrate", "demo"):
            asyncio.run(_with_store(config, seed=command == "demo"))
            return 0
        if config.clock_start is not None:
            log.warning(
                "CLOCK SHIFTED: the server clock starts at %s, not at the real time",
                config.clock_start.isoformat(),
            )
        with asyncio.Runner(loop_factory=event_loop) as runner:
            runner.run(serve(create_app(config), config))
    except SchedulerError as exc:
        print(f"booth-server: error: {exc.field or 'config'}: {exc.message}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"booth-server: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"booth-server: error: cannot listen on {config.host}:{config.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


async def serve(app: web.Application, config: Config) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, drain (booth_server/lifecycle.py), then shut down
    as ``web.run_app`` would: listener closed, ``on_shutdown`` (the booth sockets get
    ``server_going_away`` and 1001), running requests finished, cleanup.

    Not ``web.run_app``: it closes the listener at the first signal, so no balancer would ever
    see ``/readyz`` answer 503.
    """
    lifecycle = app[LIFECYCLE]
    loop = asyncio.get_running_loop()
    for stop_signal in STOP_SIGNALS:
        loop.add_signal_handler(stop_signal, lifecycle.request_stop)
    runner = web.AppRunner(
        app,
        access_log_class=logs.RedactingAccessLogger,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        keepalive_timeout=config.http_keepalive_timeout,
    )
    try:
        await runner.setup()  # the app's startup: migrations, the signalling tasks
        await web.TCPSite(runner, config.host, config.port, backlog=LISTEN_BACKLOG).start()
        log.info("serving on %s (database %s)", config.origin, safe_url(config.database))
        await lifecycle.wait_for_stop()
        await lifecycle.drain()
    finally:
        await runner.cleanup()
        for stop_signal in STOP_SIGNALS:
            loop.remove_signal_handler(stop_signal)


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed (the ``fast`` extra): more messages per core."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    sys.exit(main())

"""The application factory: one ``create_app(config)``, all state in typed app keys."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from scheduler.database import Database
from scheduler.store import Store

from . import (
    api_accounts,
    api_bookings,
    api_calendars,
    api_catalog,
    api_devices,
    api_health,
    api_kiosk,
    api_live,
    api_mail,
    api_venues,
    cancel_page,
    demo,
    lifecycle,
    mail,
    pages,
    quality,
    selftest,
    signalling,
)
from .bookings import BookingService
from .clock import Clock
from .config import Config
from .errors import error_middleware
from .keys import BOOKINGS, CLOCK, CONFIG, DATABASE, METRICS, SERVER_SECRET, STORE, THROTTLE
from .metrics import Metrics
from .server_secret import default_secret_file, load_or_create
from .throttle import Throttle

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
#: What ``Server`` says: the product, no versions of it or of what it runs on.
SERVER_NAME = "Sebastian"


def static_dir() -> Path:
    """The browser client: installed beside the package, or at the top of a source checkout."""
    installed = Path(str(resources.files("booth_server"))) / "static"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "static"


def openapi_document() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "openapi.json").read_text(encoding="utf-8"))


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer, errors and static files included (a signal sees what middlewares miss).

    No version in ``Server``; ``nosniff`` and a referrer policy everywhere; API answers (the
    authenticated data) are never stored by any cache unless the handler chose a policy.
    """
    response.headers["Server"] = SERVER_NAME
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    database = Database(config.database)
    await database.migrate()
    app[DATABASE] = database
    app[STORE] = Store(database)
    app[BOOKINGS] = BookingService(app[STORE], app[CLOCK])
    if config.demo:
        credentials = await demo.seed(app[STORE], app[CLOCK].now())
        demo.announce(credentials)
    yield
    await database.dispose()


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def create_app(config: Config, clock: Clock | None = None) -> web.Application:
    """Build the server. ``clock`` defaults to the wall clock, shifted by ``config.clock_start``."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[error_middleware])
    app.on_response_prepare.append(security_headers)
    app[CONFIG] = config
    app[CLOCK] = clock or Clock(config.clock_start)
    app[METRICS] = Metrics()
    app[THROTTLE] = Throttle()
    secret_file = Path(config.secret_file) if config.secret_file else default_secret_file(config.database)
    app[SERVER_SECRET] = load_or_create(secret_file)
    app.cleanup_ctx.append(_database)
    lifecycle.setup(app, config.drain_seconds)  # before signalling: /readyz 503 before sockets close
    signalling.setup(app)  # after _database: the booth websocket, /metrics, shutdown
    mail.setup(app)  # after _database: the outbox writer and the sender task
    selftest.setup(app)  # after signalling: the echo peer and the line of self-tests
    quality.setup(app)
    app.router.add_routes(api_catalog.routes)
    app.router.add_routes(api_accounts.routes)
    app.router.add_routes(api_calendars.routes)  # before api_bookings: /bookings/{id}.ics
    app.router.add_routes(api_bookings.routes)
    app.router.add_routes(api_venues.routes)
    app.router.add_routes(pages.routes)
    app.router.add_routes(cancel_page.routes)
    app.router.add_routes(api_kiosk.routes)
    app.router.add_routes(api_devices.routes)
    app.router.add_routes(api_live.routes)
    app.router.add_routes(api_mail.routes)
    app.router.add_routes(api_health.routes)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/openapi.json", openapi)
    return app

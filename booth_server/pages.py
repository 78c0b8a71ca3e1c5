"""The browser client's pages and files: ``/`` (booking), ``/kiosk``, ``/staff`` and ``/static/``.

Everything is plain files from ``static/`` (no build step). Pages get two facts stamped in when
served: the language negotiated from ``Accept-Language`` (the page may switch later) and the
server's clock, which a demo or test may have shifted away from the browser's.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from .keys import CLOCK

routes = web.RouteTableDef()

LANGUAGES = ("en", "fr")

#: Only this origin's scripts, styles and connections; camera and remote video come as blob:/
#: MediaStream, so media-src allows blob: too. No inline code anywhere, so no 'unsafe-inline'.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
_PAGES = {"/": "index.html", "/kiosk": "kiosk.html", "/staff": "staff.html"}


def _static_dir() -> Path:
    from .app import static_dir  # the app imports this module: import late

    return static_dir()


def negotiate_language(header: str) -> str:
    """The first of :data:`LANGUAGES` in ``Accept-Language`` by quality, else English."""
    best, best_q = "en", -1.0
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        # Earlier entries win ties, as browsers list them in order of preference.
        score = q - position * 1e-6
        if primary in LANGUAGES and q > 0 and score > best_q:
            best, best_q = primary, score
    return best


_Response = TypeVar("_Response", bound=web.StreamResponse)


def _secure(response: _Response) -> _Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=()"
    response.headers["X-Frame-Options"] = "DENY"
    return response


secure_page = _secure  # for the server-rendered pages of other modules (booth_server/cancel_page.py)


async def page(request: web.Request) -> web.Response:
    name = _PAGES[request.path]
    text = (_static_dir() / name).read_text(encoding="utf-8")
    language = negotiate_language(request.headers.get("Accept-Language", ""))
    now = request.app[CLOCK].now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    text = text.replace('<html lang="en"', f'<html lang="{language}"', 1)
    text = text.replace(
        '<meta name="server-time" content="">', f'<meta name="server-time" content="{html.escape(now)}">', 1
    )
    response = web.Response(text=text, content_type="text/html", charset="utf-8")
    # The page carries the server's time: never reuse a stored copy.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Accept-Language"
    return _secure(response)


@routes.get(r"/static/{name}")
async def static_file(request: web.Request) -> web.StreamResponse:
    """A file of the client, flat in ``static/``; revalidated on every load (no build, no hashes)."""
    name = request.match_info["name"]
    suffix = Path(name).suffix.lower()
    if not _STATIC_NAME.match(name) or ".." in name or suffix not in _CONTENT_TYPES:
        raise web.HTTPNotFound(text="no such file")
    path = _static_dir() / name
    if not path.is_file():
        raise web.HTTPNotFound(text="no such file")
    response = web.FileResponse(
        path,
        headers={
            "Content-Type": _CONTENT_TYPES[suffix],
            "Cache-Control": "no-cache",
        },
    )
    return _secure(response)


@routes.get("/favicon.ico")
async def favicon(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/static/favicon.svg")


for _path in _PAGES:
    routes.get(_path)(page)

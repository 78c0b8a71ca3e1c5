"""``/cancel``: the one-click cancel link of a reminder e-mail, with no login.

``GET /cancel?token=…`` only shows the session and a confirmation button: mail scanners and
link previews open links, and must cancel nothing. The button POSTs the same token, and only
that POST cancels (:meth:`~booth_server.bookings.BookingService.cancel_from_link`). A link that
is not one the server signed, that has expired (the session has started), whose session changed
since the reminder, or that was used already gets a page saying so, never a cancellation.
"""

from __future__ import annotations

import html

from aiohttp import web

from scheduler import cancel_links
from scheduler.errors import NotFound
from scheduler.mail import LANGUAGES, local_span
from scheduler.model import BookingStatus, BookingView
from scheduler.store import BookingStateError

from .keys import BOOKINGS, CLOCK, SERVER_SECRET, STORE
from .pages import negotiate_language, secure_page

routes = web.RouteTableDef()

_TEXT = {
    "en": {
        "title": "Cancel a booth session",
        "confirm": "Do you want to cancel this session? Everyone invited will get a cancellation.",
        "button": "Cancel the session",
        "done": "The session is cancelled. Everyone invited gets a cancellation by e-mail.",
        "invalid": "This cancel link is not valid. Copy the whole link from the e-mail, or log in to cancel.",
        "expired": "This cancel link has expired: the session has started.",
        "used": "This session is already cancelled: the link has been used, or it was cancelled otherwise.",
        "changed": (
            "This session has changed since this reminder was sent, so its link no longer works. "
            "Use the link of the latest e-mail, or log in to cancel."
        ),
        "missing": "This session no longer exists.",
    },
    "fr": {
        "title": "Annuler une séance en cabine",
        "confirm": "Voulez-vous annuler cette séance ? Chaque invité recevra une annulation.",
        "button": "Annuler la séance",
        "done": "La séance est annulée. Chaque invité reçoit une annulation par e-mail.",
        "invalid": (
            "Ce lien d’annulation n’est pas valide. Copiez le lien entier depuis l’e-mail, "
            "ou connectez-vous pour annuler."
        ),
        "expired": "Ce lien d’annulation a expiré : la séance a commencé.",
        "used": "Cette séance est déjà annulée : le lien a servi, ou elle a été annulée autrement.",
        "changed": (
            "Cette séance a changé depuis l’envoi de ce rappel, son lien ne sert donc plus. "
            "Utilisez le lien du dernier e-mail, ou connectez-vous pour annuler."
        ),
        "missing": "Cette séance n’existe plus.",
    },
}


def _language(request: web.Request) -> str:
    asked = request.query.get("lang", "")
    return asked if asked in LANGUAGES else negotiate_language(request.headers.get("Accept-Language", ""))


def _page(
    language: str, message_key: str, status: int, view: BookingView | None = None, form: str = ""
) -> web.Response:
    words = _TEXT[language]
    e = html.escape
    details = ""
    if view is not None:
        rows = "".join(
            f"<li>{e(b.venue.city)} — {e(b.name)}, {e(b.venue.name)}: "
            f"{e(local_span(view.start, view.end, b.venue.timezone, language))}</li>"
            for b in view.booths
        )
        details = f"<h2>{e(view.title)}</h2><ul>{rows}</ul>"
    body = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/static/style.css"><title>{e(words["title"])}</title></head>'
        f"<body><main><h1>{e(words['title'])}</h1>{details}"
        f'<p id="message" data-outcome="{message_key}">{e(words[message_key])}</p>{form}</main></body></html>'
    )
    response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return secure_page(response)


async def _check(
    request: web.Request, token: str, language: str
) -> tuple[cancel_links.CancelLink, BookingView] | web.Response:
    """The link and its booking, or the page that says why it cannot cancel."""
    try:
        link = cancel_links.verify(request.app[SERVER_SECRET], token, request.app[CLOCK].now())
    except cancel_links.LinkError as exc:
        return _page(language, exc.reason, 410 if exc.reason == "expired" else 400)
    try:
        view = await request.app[STORE].booking(link.booking_id)
    except NotFound:
        return _page(language, "missing", 404)
    if view.status is BookingStatus.CANCELLED:
        return _page(language, "used", 409, view)
    if view.sequence != link.sequence:
        return _page(language, "changed", 409, view)
    return link, view


@routes.get("/cancel")
async def confirm(request: web.Request) -> web.Response:
    language = _language(request)
    token = request.query.get("token", "")
    checked = await _check(request, token, language)
    if isinstance(checked, web.Response):
        return checked
    _link, view = checked
    e = html.escape
    form = (
        f'<form method="post" action="/cancel?lang={language}">'
        f'<input type="hidden" name="token" value="{e(token, quote=True)}">'
        f'<button type="submit" class="danger">{e(_TEXT[language]["button"])}</button></form>'
    )
    return _page(language, "confirm", 200, view, form)


@routes.post("/cancel")
async def cancel(request: web.Request) -> web.Response:
    language = _language(request)
    form = await request.post()
    token = form.get("token")
    if not isinstance(token, str):
        return _page(language, "invalid", 400)
    checked = await _check(request, token, language)
    if isinstance(checked, web.Response):
        return checked
    link, _view = checked
    try:
        view, cancelled = await request.app[BOOKINGS].cancel_from_link(link)
    except BookingStateError as exc:  # changed or ended between the check and the cancel
        return _page(language, "changed" if exc.code == "booking_changed" else "expired", 409)
    return _page(language, "done" if cancelled else "used", 200 if cancelled else 409, view)

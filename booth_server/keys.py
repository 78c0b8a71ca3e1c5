"""Typed application keys: the app's shared state, instead of module globals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from scheduler.database import Database
from scheduler.devices import DeviceKeys
from scheduler.outbox import Outbox
from scheduler.store import Store

from .clock import Clock
from .config import Config
from .metrics import Metrics

if TYPE_CHECKING:
    from .bookings import BookingService  # rooms imports auth, which imports these keys
    from .lifecycle import Lifecycle
    from .mail import MailSender
    from .node import SignallingNode
    from .throttle import Throttle

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
DATABASE = web.AppKey("database", Database)
STORE = web.AppKey("store", Store)
DEVICES = web.AppKey("devices", DeviceKeys)
METRICS = web.AppKey("metrics", Metrics)
#: The server's signing secret (booth_server/server_secret.py), loaded once at start.
SERVER_SECRET = web.AppKey("server_secret", bytes)
BOOKINGS: web.AppKey[BookingService] = web.AppKey("bookings")
SIGNALLING: web.AppKey[SignallingNode] = web.AppKey("signalling")
#: Ready or draining before a stop (booth_server/lifecycle.py).
LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle")
#: The mail outbox (booth_server/mail.py).
OUTBOX = web.AppKey("outbox", Outbox)
#: The task that composes and sends the outbox (booth_server/mail.py).
MAIL_SENDER: web.AppKey[MailSender] = web.AppKey("mail_sender")
#: Login and registration token buckets (booth_server/throttle.py).
THROTTLE: web.AppKey[Throttle] = web.AppKey("throttle")

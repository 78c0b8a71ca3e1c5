"""One-click cancel links of reminder e-mails: signed, for one booking at one sequence.

A link carries ``booking.sequence.expires.signature``: the HMAC-SHA256, under the server's
secret, of the booking id, the booking's sequence when the reminder was written and the
session's start (the link expires then). Any change of the booking raises its sequence, so a
link of an older reminder no longer matches; cancelling raises it too, so a link works once.
Pure: the secret and ``now`` come in as arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

_DOMAIN = b"sebastian cancel link v1\0"
_TOKEN = re.compile(r"^(\d{1,10})\.(\d{1,10})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


class LinkError(ValueError):
    """The link is not one this server signed (``invalid``) or it is too late (``expired``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CancelLink:
    booking_id: int
    sequence: int
    expires: datetime


def _signature(secret: bytes, booking_id: int, sequence: int, expires: int) -> str:
    mac = hmac.new(secret, _DOMAIN + f"{booking_id}.{sequence}.{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def sign(secret: bytes, booking_id: int, sequence: int, expires: datetime) -> str:
    """The token of a link cancelling ``booking_id`` at ``sequence``, valid until ``expires``."""
    stamp = int(expires.timestamp())
    return f"{booking_id}.{sequence}.{stamp}.{_signature(secret, booking_id, sequence, stamp)}"


def verify(secret: bytes, token: str, now: datetime) -> CancelLink:
    """The link a token stands for; raises :class:`LinkError` ``invalid`` (malformed or a wrong
    signature) or ``expired`` (the session has started)."""
    found = _TOKEN.match(token.strip())
    if found is None:
        raise LinkError("invalid")
    booking_id, sequence, stamp = (int(part) for part in found.groups()[:3])
    expected = _signature(secret, booking_id, sequence, stamp)
    if not hmac.compare_digest(expected, found.group(4)):
        raise LinkError("invalid")
    expires = datetime.fromtimestamp(stamp, UTC)
    if now >= expires:
        raise LinkError("expired")
    return CancelLink(booking_id, sequence, expires)

"""TURN REST credentials, as coturn checks them with ``use-auth-secret``.

coturn's "TURN REST API" scheme: the username is ``"<expiry unix time>:<user>"`` and the
password is ``base64(HMAC-SHA1(static-auth-secret, username))``. coturn recomputes the HMAC
and refuses the allocation once the expiry has passed, so the server never stores
per-booth TURN passwords and a leaked credential dies by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from webrtc.limits import TURN_CREDENTIAL_MARGIN

_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


@dataclass(frozen=True)
class TurnConfig:
    """Where the STUN/TURN servers are and the secret shared with coturn.

    ``turn_urls`` get the credentials; ``stun_urls`` are sent without any. With no
    ``secret`` only the STUN entry is produced (development without a TURN server).
    """

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    secret: str | None = None
    margin: timedelta = TURN_CREDENTIAL_MARGIN

    def __post_init__(self) -> None:
        for url in (*self.stun_urls, *self.turn_urls):
            if not url.startswith(_SCHEMES):
                raise ValueError(f"ICE server url {url!r} must start with stun:, stuns:, turn: or turns:")
        if self.turn_urls and not self.secret:
            raise ValueError("TURN urls need the coturn static-auth-secret")

    @classmethod
    def for_host(
        cls,
        host: str,
        secret: str | None,
        *,
        port: int = 3478,
        tls_port: int = 443,
        margin: timedelta = TURN_CREDENTIAL_MARGIN,
    ) -> TurnConfig:
        """The usual coturn set: STUN, TURN over UDP and TCP, and TURN over TLS on 443.

        ``turns:`` on 443 gets through networks that only let HTTPS out (hotel and
        co-working firewalls), at the price of TCP-over-TLS media.
        """
        turn = (
            f"turn:{host}:{port}?transport=udp",
            f"turn:{host}:{port}?transport=tcp",
            f"turns:{host}:{tls_port}?transport=tcp",
        )
        return cls(
            stun_urls=(f"stun:{host}:{port}",), turn_urls=turn if secret else (), secret=secret, margin=margin
        )


def credentials(secret: str, user: str | int, expires_at: datetime) -> tuple[str, str]:
    """``(username, password)`` that coturn accepts until ``expires_at``."""
    if expires_at.utcoffset() is None:
        raise ValueError("expires_at must be timezone-aware")
    username = f"{int(expires_at.timestamp())}:{user}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(config: TurnConfig, booth_id: int, valid_until: datetime) -> list[dict[str, Any]]:
    """RTCIceServer dicts for one booth, with TURN valid until ``valid_until + config.margin``.

    Pass the booking's end as ``valid_until``: a call keeps its allocation a little past
    the slot while the room closes, and a credential from one booking is useless for the next.
    """
    servers: list[dict[str, Any]] = []
    if config.stun_urls:
        servers.append({"urls": list(config.stun_urls)})
    if config.turn_urls and config.secret:
        username, password = credentials(config.secret, booth_id, valid_until + config.margin)
        servers.append({"urls": list(config.turn_urls), "username": username, "credential": password})
    return servers


def expiry_of(username: str) -> datetime:
    """The expiry encoded in a TURN REST username (for logs and tests)."""
    return datetime.fromtimestamp(int(username.split(":", 1)[0]), UTC)

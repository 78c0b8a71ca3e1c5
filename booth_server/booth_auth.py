"""How a booth proves who it is: device keys, session tokens and resume tokens.

- A **device key** (``dk_…``, 256 random bits) is issued by staff; only its SHA-256 is stored.
- A **session token** (``st_<booth>.<key id>.<expiry>.<mac>``) is stateless: an HMAC-SHA256 of
  its fields and of the device key's stored hash, keyed by the server secret
  (``server_secret.py``), which is not stored in the database: whoever reads the database
  cannot mint one. It needs no table, survives a restart, works on every node, and dies with its
  device key (rotation or revocation), with the server secret, or at its expiry, which may not
  lie more than ``SESSION_TOKEN_TTL`` ahead when it is used.
- A **resume token** (``rt_…``) is random and lives in the room registry's memory only: a
  resume needs the node that held the room anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from scheduler.devices import DeviceKey, DeviceKeys
from webrtc.errors import ProtocolError
from webrtc.limits import SESSION_TOKEN_TTL
from webrtc.messages import Hello

from .auth import secret_hash

DEVICE_SCHEME = "device"
_DIGITS = re.compile(r"[0-9]{1,9}")
_EXPIRY = re.compile(r"[0-9]{1,11}")


def new_device_key() -> tuple[str, str]:
    """A fresh device key and the hash to store."""
    key = "dk_" + secrets.token_urlsafe(32)
    return key, secret_hash(key)


def new_resume_token() -> str:
    return "rt_" + secrets.token_urlsafe(24)


def device_key_from_header(header: str | None) -> str | None:
    """The key of an ``Authorization: Device <key>`` header, or None when there is no such header."""
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != DEVICE_SCHEME or not key.strip():
        return None
    return key.strip()


def _mac(secret: bytes, key: DeviceKey, payload: str) -> str:
    message = f"booth-session\0{payload}\0{key.key_hash}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_session_token(key: DeviceKey, now: datetime, secret: bytes) -> tuple[str, datetime]:
    """A session token for the booth of ``key`` and when it expires."""
    expires_at = (now + SESSION_TOKEN_TTL).replace(microsecond=0)
    payload = f"{key.booth_id}.{key.id}.{int(expires_at.timestamp())}"
    return f"st_{payload}.{_mac(secret, key, payload)}", expires_at


async def _session(token: str, devices: DeviceKeys, now: datetime, secret: bytes) -> DeviceKey:
    unknown = ProtocolError("unauthorized", "the session token is not valid; use the device key")
    try:
        booth_text, key_text, expiry_text, mac = token.removeprefix("st_").split(".")
        # Ids within a 32-bit column, an expiry before the year 5000: no overflow below.
        if not all(_DIGITS.fullmatch(part) for part in (booth_text, key_text)) or not _EXPIRY.fullmatch(
            expiry_text
        ):
            raise ValueError
        booth_id, key_id, expiry = int(booth_text), int(key_text), int(expiry_text)
    except ValueError:
        raise unknown from None
    key = await devices.live(key_id)
    if key is None or key.booth_id != booth_id:
        raise unknown
    expected = _mac(secret, key, f"{booth_text}.{key_text}.{expiry_text}")
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), expected.encode()):
        raise unknown
    expires_at = datetime.fromtimestamp(expiry, UTC)
    if expires_at - now > SESSION_TOKEN_TTL:
        raise unknown  # signed by this server, yet longer-lived than it ever issues: refused
    if expires_at <= now:
        raise ProtocolError("token_expired", "the session token has expired: reconnect with the device key")
    return key


async def authenticate(
    hello: Hello, header: str | None, devices: DeviceKeys, now: datetime, secret: bytes
) -> DeviceKey:
    """The live device key behind a ``hello`` (and the upgrade's Authorization header).

    Raises ``unauthorized`` (no credentials, unknown or revoked key, header and hello disagree)
    or ``token_expired``. Messages never echo a key or token.
    """
    header_key = device_key_from_header(header)
    if hello.session_token is not None:
        if header_key is not None:
            raise ProtocolError("unauthorized", "send a device key or a session token, not both")
        by_token = await _session(hello.session_token, devices, now, secret)
        await devices.seen(by_token.id, now)
        return by_token
    if (
        hello.device_key is not None
        and header_key is not None
        and not hmac.compare_digest(hello.device_key, header_key)
    ):
        raise ProtocolError("unauthorized", "the device key in hello differs from the Authorization header")
    device_key = hello.device_key or header_key
    if device_key is None:
        raise ProtocolError("unauthorized", "send device_key or session_token in hello")
    key = await devices.find(secret_hash(device_key))
    if key is None:
        raise ProtocolError("unauthorized", "unknown or revoked device key: staff must pair this booth again")
    await devices.seen(key.id, now)
    return key

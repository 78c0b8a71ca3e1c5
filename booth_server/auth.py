"""Passwords, bearer tokens, cookie sessions and CSRF.

Passwords are hashed with scrypt (a memory-hard KDF from the standard library). Tokens are 256
random bits; only their SHA-256 is stored, which is enough for secrets of that strength.
Cookie-authenticated writes must echo the CSRF cookie in ``X-CSRF-Token`` (double submit), which
a page from another origin cannot read.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

from aiohttp import web

from scheduler import policy
from scheduler.errors import Forbidden, NotFound, Unauthorized
from scheduler.model import Account

from . import validation as v
from .keys import CLOCK, STORE

SESSION_COOKIE = "sebastian_session"
CSRF_COOKIE = "sebastian_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(days=14)
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ACCOUNT = web.RequestKey("account", Account)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def hash_password_sync(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


async def hash_password(password: str) -> str:
    """scrypt takes tens of milliseconds: keep it off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, hash_password_sync, password)


async def verify_password(password: str, stored: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, verify_password_sync, password, stored)


def new_secret() -> tuple[str, str]:
    """A fresh token and the hash to store."""
    secret = secrets.token_urlsafe(32)
    return secret, secret_hash(secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def authenticate(request: web.Request) -> Account | None:
    """The account behind the bearer token or the session cookie, or None."""
    if _ACCOUNT in request:
        return request[_ACCOUNT]
    header = request.headers.get("Authorization", "")
    store, now = request.app[STORE], request.app[CLOCK].now()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'", field="Authorization")
        found = await store.account_for_token(secret_hash(token.strip()), now)
        if found is None or found[1] != "api":
            raise Unauthorized("this API token is unknown, expired or revoked", field="Authorization")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        found = await store.account_for_token(secret_hash(cookie), now)
        if found is None or found[1] != "session":
            return None
        if request.method not in _SAFE_METHODS:
            _check_csrf(request)
    request[_ACCOUNT] = found[0]
    return found[0]


def _check_csrf(request: web.Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie, header):
        raise Forbidden(
            f"cookie-authenticated writes need the {CSRF_HEADER} header from the {CSRF_COOKIE} cookie",
            field=CSRF_HEADER,
            code="csrf",
        )


async def require_account(request: web.Request) -> Account:
    account = await authenticate(request)
    if account is None:
        raise Unauthorized("log in or send 'Authorization: Bearer <token>'", field="Authorization")
    return account


async def require_venue_staff(request: web.Request, what: str) -> tuple[Account, int]:
    """The account and the ``{venue_id}`` of the path, when it is staff of that venue or an admin.

    401 without an account, 422 for a malformed id, 404 for an unknown venue, 403 (naming
    ``what`` is refused) for anyone else.
    """
    actor = await require_account(request)
    venue_id = v.integer(request.match_info["venue_id"], "venue_id", low=1, high=2**31 - 1)
    if venue_id not in {venue.id for venue in await request.app[STORE].venues()}:
        raise NotFound(f"there is no venue with id {venue_id}", field="venue_id")
    if not policy.can_manage_venue(actor, venue_id):
        raise Forbidden(f"only staff of this venue or an admin may see {what}", field="venue_id")
    return actor, venue_id

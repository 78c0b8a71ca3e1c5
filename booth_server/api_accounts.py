"""Accounts, API tokens and browser sessions."""

from __future__ import annotations

from aiohttp import web

from scheduler.errors import Forbidden, InvalidInput, Unauthorized
from scheduler.model import Account, Role

from . import auth
from . import validation as v
from .keys import CLOCK, CONFIG, STORE, THROTTLE
from .serialize import account_json

routes = web.RouteTableDef()

MIN_PASSWORD = 10
MAX_PASSWORD = 1024


def _password(body: dict[str, object]) -> str:
    value = body.get("password")
    if not isinstance(value, str) or not value:
        raise InvalidInput("password is required", field="password", code="required")
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long", field="password"
        )
    return value


@routes.post("/api/v1/accounts")
async def register(request: web.Request) -> web.Response:
    """Anyone may register as an entrepreneur; an admin may also create staff and admins."""
    body = await v.read_json(request)
    actor = await auth.authenticate(request)
    if actor is None or actor.role is not Role.ADMIN:
        request.app[THROTTLE].register(request)
    role = Role.ENTREPRENEUR
    venue_id = None
    if "role" in body and body["role"] != Role.ENTREPRENEUR.value:
        if actor is None or actor.role is not Role.ADMIN:
            raise Forbidden("only an admin may create staff or admin accounts", field="role")
        try:
            role = Role(body["role"])
        except ValueError:
            raise InvalidInput("role must be entrepreneur, staff or admin", field="role") from None
        if role is Role.STAFF:
            venue_id = v.integer(body.get("venue_id"), "venue_id", low=1, high=2**31 - 1)
            if venue_id not in {venue.id for venue in await request.app[STORE].venues()}:
                raise InvalidInput(f"there is no venue with id {venue_id}", field="venue_id")
    email = v.email(body)
    password = _password(body)
    name = v.required_text(body, "name")
    company = v.text(body, "company", required=False, default="") or ""
    account = await request.app[STORE].create_account(
        email=email,
        name=name,
        company=company,
        role=role,
        venue_id=venue_id,
        password_hash=await auth.hash_password(password),
        now=request.app[CLOCK].now(),
    )
    return web.json_response(account_json(account), status=201)


#: Checked when the email is unknown, so that the answer's timing does not tell which emails exist.
_DUMMY_HASH = auth.hash_password_sync("not a real password, only for timing")


async def _login(request: web.Request) -> Account:
    body = await v.read_json(request)
    email = v.email(body)
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidInput("password is required", field="password", code="required")
    request.app[THROTTLE].login(request, email)  # before any scrypt work
    found = await request.app[STORE].credentials(email)
    stored = found[1] if found else _DUMMY_HASH
    if not await auth.verify_password(password[:MAX_PASSWORD], stored) or found is None:
        raise Unauthorized("wrong email or password", field="password", code="bad_credentials")
    return found[0]


@routes.post("/api/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    account = await _login(request)
    secret, hashed = auth.new_secret()
    await request.app[STORE].add_token(account.id, hashed, "api", request.app[CLOCK].now(), None)
    return web.json_response({"token": secret, "account": account_json(account)}, status=201)


@routes.delete("/api/v1/tokens/current")
async def revoke_token(request: web.Request) -> web.Response:
    await auth.require_account(request)
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise InvalidInput(
            "send the token to revoke as 'Authorization: Bearer <token>'", field="Authorization"
        )
    await request.app[STORE].revoke_token(auth.secret_hash(header[7:].strip()), request.app[CLOCK].now())
    return web.Response(status=204)


@routes.post("/api/v1/session")
async def log_in(request: web.Request) -> web.Response:
    account = await _login(request)
    secret, hashed = auth.new_secret()
    now = request.app[CLOCK].now()
    await request.app[STORE].add_token(account.id, hashed, "session", now, now + auth.SESSION_LIFETIME)
    csrf = auth.new_secret()[0]
    response = web.json_response({"account": account_json(account), "csrf_token": csrf}, status=201)
    secure = request.app[CONFIG].secure_cookies
    max_age = int(auth.SESSION_LIFETIME.total_seconds())
    response.set_cookie(
        auth.SESSION_COOKIE, secret, httponly=True, samesite="Lax", secure=secure, max_age=max_age, path="/"
    )
    response.set_cookie(
        auth.CSRF_COOKIE, csrf, httponly=False, samesite="Strict", secure=secure, max_age=max_age, path="/"
    )
    return response


@routes.delete("/api/v1/session")
async def log_out(request: web.Request) -> web.Response:
    await auth.require_account(request)
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        await request.app[STORE].revoke_token(auth.secret_hash(cookie), request.app[CLOCK].now())
    response = web.Response(status=204)
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    response.del_cookie(auth.CSRF_COOKIE, path="/")
    return response


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    return web.json_response(account_json(await auth.require_account(request)))

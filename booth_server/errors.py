"""Domain errors to HTTP, in one place: ``{"error": {"code", "message", "field", ...}}``."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from scheduler.errors import (
    AlreadyExists,
    BookingConflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
    SchedulerError,
    Unauthorized,
)
from scheduler.store import BookingStateError

from .logs import redact

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[SchedulerError], int], ...] = (
    (BookingConflict, 409),
    (BookingStateError, 409),
    (AlreadyExists, 409),
    (NotFound, 404),
    (Forbidden, 403),
    (Unauthorized, 401),
    (RuleViolation, 422),
    (InvalidInput, 422),
)


class BadRequest(InvalidInput):
    """The request itself is unreadable (HTTP 400), e.g. malformed JSON."""


class TooManyTries(SchedulerError):
    """Slowed down (HTTP 429); ``details["retry_after"]`` seconds, also sent as Retry-After."""

    code = "too_many_tries"


def status_of(error: SchedulerError) -> int:
    if isinstance(error, BadRequest):
        return 400
    if isinstance(error, TooManyTries):
        return 429
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def error_response(
    status: int, code: str, message: str, field: str | None = None, details: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    body.update(details or {})
    response = web.json_response({"error": body}, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sebastian"'
    if status == 429 and "retry_after" in body:
        response.headers["Retry-After"] = str(body["retry_after"])
    return response


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except SchedulerError as error:
        return error_response(status_of(error), error.code, error.message, error.field, error.details)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        message = exc.text or exc.reason
        if exc.status == 413:
            message = "the request body is larger than 1 MiB"
        elif exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        return error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"), message)
    except (ConnectionResetError, web.HTTPClientError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return error_response(500, "internal", "the server failed to handle this request; it has been logged")

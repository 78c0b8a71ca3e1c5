"""Errors of the booking domain, each with a stable code that the API passes on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SchedulerError(Exception):
    """Base of every domain error. ``code`` is stable; ``message`` is for people."""

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.details = details or {}


class InvalidInput(SchedulerError):
    """A malformed or out-of-range value (HTTP 422)."""

    code = "invalid"


class LocalTimeError(InvalidInput):
    """A wall-clock time that does not exist or happens twice in its zone (HTTP 422)."""

    code = "local_time"


class RuleViolation(SchedulerError):
    """A booking rule is broken (HTTP 422); ``code`` names the rule."""

    code = "rule"


@dataclass(frozen=True)
class Conflict:
    booth_id: int
    booth_name: str
    start: str
    end: str
    booking_id: int | None


class BookingConflict(SchedulerError):
    """A booth is already held in the requested range, buffer included (HTTP 409)."""

    code = "conflict"

    def __init__(self, conflicts: list[Conflict]) -> None:
        first = conflicts[0]
        super().__init__(
            f"booth {first.booth_name!r} (id {first.booth_id}) is already booked "
            f"from {first.start} to {first.end}",
            field="booths",
            details={"conflicts": [c.__dict__ for c in conflicts]},
        )
        self.conflicts = conflicts


class AlreadyExists(SchedulerError):
    """A unique name or address is taken (HTTP 409); the subclass's code says which."""

    code = "exists"


class NotFound(SchedulerError):
    code = "not_found"


class Forbidden(SchedulerError):
    code = "forbidden"


class Unauthorized(SchedulerError):
    code = "unauthorized"

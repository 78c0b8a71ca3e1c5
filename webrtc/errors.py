"""The one error type of the signalling core and the table of its stable codes.

Every refusal, from a malformed frame to a join outside the booking, is a
:class:`ProtocolError` whose ``code`` is a key of :data:`ERRORS`. The I/O layer turns it
into an ``error`` message and, when :attr:`ErrorSpec.close_code` is set, closes the socket
with that code and the error code as the close reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from webrtc.limits import (
    AUTH_TIMEOUT,
    IDLE_TIMEOUT,
    JOIN_OPENS_BEFORE_START,
    MAX_MESSAGE_BYTES,
    MESSAGE_BURST,
    MESSAGE_RATE,
    RATE_STRIKES,
    RATE_STRIKES_FORGIVEN_PER_SECOND,
)


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses (4000-4999 are ours, RFC 6455 section 7.4.2)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008  # rate limit
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    UNAUTHORIZED = 4001
    TOKEN_EXPIRED = 4002
    UNSUPPORTED_VERSION = 4003
    AUTH_TIMEOUT = 4004
    REPLACED = 4005
    IDLE_TIMEOUT = 4006
    STATE_LOST = 4007


@dataclass(frozen=True)
class ErrorSpec:
    """What a code means and what survives it."""

    meaning: str
    close_code: CloseCode | None  # None: the connection stays open
    room: str  # what happens to the booth's room, for the protocol document
    on_wire: bool = True  # False: only raised to the server's own callers (staff API)


_STAYS = None
_UNAFFECTED = "unaffected"
_DISCONNECTED = "booth disconnected: the resume grace starts"

ERRORS: Final[dict[str, ErrorSpec]] = {
    "bad_json": ErrorSpec("the frame is not JSON text (or not UTF-8)", _STAYS, _UNAFFECTED),
    "invalid_message": ErrorSpec(
        "the message breaks its JSON Schema; `path` points at the field", _STAYS, _UNAFFECTED
    ),
    "unknown_type": ErrorSpec("`type` names no message of this protocol version", _STAYS, _UNAFFECTED),
    "message_too_big": ErrorSpec(
        f"the frame is over {MAX_MESSAGE_BYTES // 1024} KiB", CloseCode.MESSAGE_TOO_BIG, _DISCONNECTED
    ),
    "unsupported_version": ErrorSpec(
        "`hello.version` is not one the server speaks", CloseCode.UNSUPPORTED_VERSION, _UNAFFECTED
    ),
    "unauthorized": ErrorSpec(
        "no credentials, unknown or revoked device key, or a message before `hello`",
        CloseCode.UNAUTHORIZED,
        _UNAFFECTED,
    ),
    "token_expired": ErrorSpec(
        "the session token in `hello` has expired: reconnect with the device key",
        CloseCode.TOKEN_EXPIRED,
        _UNAFFECTED,
    ),
    "auth_timeout": ErrorSpec(
        f"no valid `hello` within {AUTH_TIMEOUT:g} s of the upgrade", CloseCode.AUTH_TIMEOUT, _UNAFFECTED
    ),
    "idle_timeout": ErrorSpec(
        f"nothing received for {IDLE_TIMEOUT:g} s", CloseCode.IDLE_TIMEOUT, _DISCONNECTED
    ),
    "unexpected_message": ErrorSpec(
        "a valid message that makes no sense now (a second `hello`)", _STAYS, _UNAFFECTED
    ),
    "not_booked": ErrorSpec(
        "this booth (or the `to` booth) is not part of this booking", _STAYS, _UNAFFECTED
    ),
    "too_early": ErrorSpec(
        f"the room opens {JOIN_OPENS_BEFORE_START.total_seconds() / 60:g} minutes before the booking starts",
        _STAYS,
        _UNAFFECTED,
    ),
    "slot_ended": ErrorSpec("the booking is over; the room is closed", _STAYS, "closed"),
    "cancelled": ErrorSpec("staff cancelled the booking; the room is closed", _STAYS, "closed"),
    "moved": ErrorSpec(
        "the booking was moved to another time or other booths; the room is closed (join it again"
        " at its new time)",
        _STAYS,
        "closed",
    ),
    "wrong_room": ErrorSpec("`booking_id` is not the room this connection is in", _STAYS, _UNAFFECTED),
    "not_in_room": ErrorSpec("the booth has not joined this room (or has left it)", _STAYS, _UNAFFECTED),
    "peer_absent": ErrorSpec("the partner is not in the room; nothing was relayed", _STAYS, _UNAFFECTED),
    "unexpected_answer": ErrorSpec(
        "an `answer` with no outstanding `offer` from that partner", _STAYS, _UNAFFECTED
    ),
    "resume_failed": ErrorSpec(
        "resume token unknown or expired, or `last_seq` outside the kept history: join afresh",
        _STAYS,
        "the booth is not back; it may join again",
    ),
    "rate_limited": ErrorSpec(
        f"over {MESSAGE_RATE:g} messages/s (burst {MESSAGE_BURST}): the message was dropped; after"
        f" {RATE_STRIKES} of these (one more allowed every {1 / RATE_STRIKES_FORGIVEN_PER_SECOND:g} s)"
        f" the next closes the connection with {int(CloseCode.POLICY_VIOLATION)}; a `call_stats` within"
        " 1 s of the booth's previous one is dropped too (no strike)",
        _STAYS,
        _UNAFFECTED,
    ),
    "replaced": ErrorSpec(
        "a newer connection of the same booth took over",
        CloseCode.REPLACED,
        "the newer connection takes the booth's place",
    ),
    "internal_error": ErrorSpec("a server bug; reconnect", CloseCode.INTERNAL_ERROR, _DISCONNECTED),
    "state_lost": ErrorSpec(
        "the servers lost the signalling state, or could not reach it (their shared store restarted"
        " empty, or was unreachable): reconnect, and join afresh when the resume fails",
        CloseCode.STATE_LOST,
        "the room starts afresh: every booth joins again",
    ),
    "selftest_unavailable": ErrorSpec(
        "the echo peer cannot be reached (or refused the offer): no self-test now, try again later",
        _STAYS,
        _UNAFFECTED,
    ),
    "unknown_test": ErrorSpec(
        "`test_id` is not a running self-test of this booth (finished, timed out or never started)",
        _STAYS,
        _UNAFFECTED,
    ),
    "invalid_extension": ErrorSpec(
        "staff asked for a new end that is not later than the current one", _STAYS, _UNAFFECTED, on_wire=False
    ),
}

# The close that follows repeated rate_limited errors is a policy violation, not an error reply.
RATE_LIMIT_CLOSE: Final = CloseCode.POLICY_VIOLATION


class ProtocolError(Exception):
    """A refused message or event, with a stable ``code`` from :data:`ERRORS`.

    ``path`` is the JSON pointer of the offending field for ``invalid_message``; ``ref`` is
    the client's message ``id`` when it could be read, so the reply can point back at it.
    """

    def __init__(
        self, code: str, message: str, path: str | None = None, ref: str | int | None = None
    ) -> None:
        if code not in ERRORS:
            # A typo here would ship an undocumented code to every client.
            raise ValueError(f"unknown protocol error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.path = path
        self.ref = ref

    @property
    def spec(self) -> ErrorSpec:
        return ERRORS[self.code]

    @property
    def closes_connection(self) -> bool:
        return self.spec.close_code is not None

"""Logging that never writes a secret.

Secrets ride in URLs (feed tokens), in headers (bearer tokens, device keys, cookies) and in
message bodies (passwords, session and resume tokens). One function, :func:`redact`, knows
their shapes; one filter, :class:`RedactingFilter`, applies it to every record (the message,
its traceback and its ``extra`` fields, which the access log fills with the request line and
headers). ``configure`` puts the filter on every handler; the access logger carries it too.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp.web_log import AccessLogger

REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # /feeds/<kind>/<token>.ics: the token is the credential of a calendar feed.
    (re.compile(r"(/feeds/[a-z]+/)[^/?\s.\"']+"), rf"\1{REDACTED}"),
    # ?token=…&key=… in any URL.
    (
        re.compile(
            r"([?&](?:token|key|device_key|session_token|resume_token|password|secret)=)[^&\s\"']+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    # Device keys, booth session tokens, resume tokens, wherever they appear.
    (re.compile(r"\b(dk|st|rt)_[A-Za-z0-9_.\-]{8,}"), rf"\1_{REDACTED}"),
    # Authorization: Bearer <token> / Device <key>, and the cookies of a browser session.
    # (A credential is long: "device keys" in a sentence stays as it is.)
    (re.compile(r"\b(Bearer|Device)(\s+)[A-Za-z0-9_.~+/=\-]{16,}", re.IGNORECASE), rf"\1\2{REDACTED}"),
    (re.compile(r"\b(sebastian_session|sebastian_csrf)=[^;\s\"',]+"), rf"\1={REDACTED}"),
    # JSON members that hold a secret, as a body or a message would show them.
    (
        re.compile(
            r"(['\"](?:password|token|device_key|session_token|resume_token|csrf_token|credential|secret)"
            r"['\"]\s*:\s*['\"])[^'\"]*"
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: str) -> str:
    """The text with every secret of a known shape replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts a record in place: its message, its traceback and its string ``extra`` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for name, value in list(vars(record).items()):
            if name in ("msg", "exc_text"):
                continue
            if isinstance(value, str):
                setattr(record, name, redact(value))
            elif isinstance(value, dict):
                setattr(record, name, _redacted_dict(value))
        return True


def _redacted_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    return {key: redact(item) if isinstance(item, str) else item for key, item in value.items()}


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access logger, its logger carrying the redacting filter."""

    def __init__(self, logger: logging.Logger, log_format: str = AccessLogger.LOG_FORMAT) -> None:
        super().__init__(logger, log_format)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())

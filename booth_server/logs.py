"""Logging that never writes a secret: feed tokens ride in URLs, so the access log redacts them."""

from __future__ import annotations

import logging
import re
from typing import Any, cast

from aiohttp.web import BaseRequest, StreamResponse
from aiohttp.web_log import AccessLogger

#: Path segments that are secrets: /feeds/<kind>/<token>... and anything after /device/.
_SECRET_PATH = re.compile(r"(/feeds/[a-z]+/)[^/?\s.]+")
_SECRET_QUERY = re.compile(r"([?&](?:token|key|device_key|resume_token)=)[^&\s]+", re.IGNORECASE)


def redact(text: str) -> str:
    """The text with URL-borne secrets replaced by ``[redacted]``."""
    return _SECRET_QUERY.sub(r"\1[redacted]", _SECRET_PATH.sub(r"\1[redacted]", text))


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access logger, with the request line and path redacted."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        super().log(cast(BaseRequest, _RedactedRequest(request)), response, time)


class _RedactedRequest:
    """A view of the request whose path attributes are redacted; everything else passes through."""

    def __init__(self, request: BaseRequest) -> None:
        self._request = request

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._request, name)
        if name in ("path", "path_qs", "raw_path"):
            return redact(value)
        return value


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

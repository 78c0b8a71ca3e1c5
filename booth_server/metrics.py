"""Prometheus metrics of one app, in its own registry (no module globals: two apps in one test
process, or two nodes, never mix their numbers)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.booths_connected = Gauge(
            "sebastian_booths_connected",
            "Booths with an authenticated signalling socket",
            registry=self.registry,
        )
        self.rooms_open = Gauge(
            "sebastian_rooms_open", "Live signalling rooms (bookings)", registry=self.registry
        )
        self.messages = Counter(
            "sebastian_signal_messages",
            "Signalling messages by direction (in, out) and type",
            ["direction", "type"],
            registry=self.registry,
        )
        self.join_latency = Histogram(
            "sebastian_join_latency_seconds",
            "From the first join of a room to every booked booth being present",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )
        self.resumes = Counter(
            "sebastian_signal_resumes",
            "Resume attempts by result (ok, failed)",
            ["result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "sebastian_signal_errors",
            "Signalling errors sent or closes made, by code",
            ["code"],
            registry=self.registry,
        )
        # ``labels()`` takes a lock and builds a key on every call: the per-message counters
        # keep their children (a handful of message types and codes, all from the protocol).
        self._in: dict[str, Any] = {}
        self._out: dict[str, Any] = {}
        self._errors: dict[str, Any] = {}

    def received(self, message_type: str) -> None:
        """Count one incoming message of ``message_type``."""
        child = self._in.get(message_type)
        if child is None:
            child = self._in[message_type] = self.messages.labels("in", message_type)
        child.inc()

    def sent(self, message_type: str) -> None:
        """Count one outgoing message of ``message_type``."""
        child = self._out.get(message_type)
        if child is None:
            child = self._out[message_type] = self.messages.labels("out", message_type)
        child.inc()

    def error(self, code: str) -> None:
        """Count one error sent (or close made) with ``code``."""
        child = self._errors.get(code)
        if child is None:
            child = self._errors[code] = self.errors.labels(code)
        child.inc()

    async def handler(self, _request: web.Request) -> web.Response:
        """``GET /metrics`` in the Prometheus text format."""
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

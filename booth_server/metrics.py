"""Prometheus metrics of one app, in its own registry (no module globals: two apps in one test
process, or two nodes, never mix their numbers)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
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
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class MessageCounts(Collector):
    """``sebastian_signal_messages_total{direction,type}``, kept as plain integers and turned
    into a metric only when scraped.

    Counted for every message in and out: a prometheus-client child counter takes a lock on
    each increment, which showed in the relay benchmark's CPU per message. The event loop
    is the only writer, and a scrape runs on it too.
    """

    def __init__(self) -> None:
        self.received: Tally[str] = Tally()
        self.sent: Tally[str] = Tally()

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "sebastian_signal_messages",
            "Signalling messages by direction (in, out) and type",
            labels=["direction", "type"],
        )
        for direction, tally in (("in", self.received), ("out", self.sent)):
            for message_type, count in sorted(tally.items()):
                family.add_metric([direction, message_type], count)
        yield family


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
        self.messages = MessageCounts()
        self.registry.register(self.messages)
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
        # ``labels()`` takes a lock and builds a key on every call: errors keep their children.
        self._errors: dict[str, Any] = {}
        self.received = self.messages.received  # received[type] += 1 for each message in
        self.sent = self.messages.sent  # sent[type] += 1 for each message out

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

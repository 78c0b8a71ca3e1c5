"""In-call quality: each kiosk's ``call_stats`` every 10 s, as Prometheus histograms and a
stored summary per session that staff read afterwards (docs/selftest.md).

A sample is accepted only from a booth in the room of that booking, and at most one a second
from each booth (they come every 10 s); its values were checked against the message's JSON
Schema (ranges included) before it gets here, so a refused message stores nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import Histogram

from scheduler.health import CallSampleRecord, HealthStore
from webrtc.errors import ProtocolError
from webrtc.messages import CallStats, ServerMessage
from webrtc.quality import CallSample, summarize

from .keys import CLOCK, DATABASE, METRICS, SIGNALLING

Send = Callable[[ServerMessage], None]

#: A booth's ``call_stats`` sooner than this after its previous one is dropped: the kiosk sends
#: one every 10 s, and the socket's rate limit (50 messages/s) would still let a kiosk gone wrong
#: store 50 samples a second and skew the histograms.
MIN_SAMPLE_INTERVAL = timedelta(seconds=1)


class CallQuality:
    """The histograms of in-call figures and the store of samples."""

    def __init__(self, app: web.Application) -> None:
        registry = app[METRICS].registry
        self.app = app
        self.health = HealthStore(app[DATABASE])
        self._last_sample: dict[int, datetime] = {}  # booth -> when its last sample was taken
        self.rtt = Histogram(
            "sebastian_call_rtt_seconds",
            "Round trip of running calls, per kiosk sample (10 s)",
            buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6, 1.0, 2.0),
            registry=registry,
        )
        self.jitter = Histogram(
            "sebastian_call_jitter_seconds",
            "Jitter of received video in running calls, per kiosk sample",
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5),
            registry=registry,
        )
        self.loss = Histogram(
            "sebastian_call_loss_ratio",
            "Received packets lost in running calls, per kiosk sample (0-1)",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.33, 1.0),
            registry=registry,
        )
        self.bitrate = Histogram(
            "sebastian_call_bitrate_bits_per_second",
            "Bitrate of running calls per kiosk sample, by direction (in, out)",
            ["direction"],
            buckets=(1e5, 3e5, 5e5, 7e5, 1.1e6, 1.5e6, 2.5e6, 4e6),
            registry=registry,
        )

    async def record(self, booth_id: int, message: CallStats) -> None:
        in_room = self.app[SIGNALLING].room_here(booth_id)
        if in_room is None:
            raise ProtocolError("not_in_room", "call_stats are for the room the booth is in; it is in none")
        if in_room != message.booking_id:
            raise ProtocolError(
                "wrong_room", f"this booth is in the room of booking {in_room}", "/booking_id"
            )
        now = self.app[CLOCK].now()
        last = self._last_sample.get(booth_id)
        if last is not None and timedelta(0) <= now - last < MIN_SAMPLE_INTERVAL:
            raise ProtocolError(
                "rate_limited",
                f"call_stats come every 10 s; this one came {(now - last).total_seconds():.2f} s after"
                f" the booth's previous one: dropped, nothing stored",
            )
        self._last_sample[booth_id] = now
        await self.health.add_call_sample(
            CallSampleRecord(
                booking_id=message.booking_id,
                booth_id=booth_id,
                at=now,
                rtt_ms=float(message.rtt_ms),
                jitter_ms=float(message.jitter_ms),
                loss_percent=float(message.loss_percent),
                bitrate_out_kbps=float(message.bitrate_out_kbps),
                bitrate_in_kbps=float(message.bitrate_in_kbps),
                frames_received=message.frames_received,
                relayed=message.relayed,
            )
        )
        self.rtt.observe(message.rtt_ms / 1000)
        self.jitter.observe(message.jitter_ms / 1000)
        self.loss.observe(message.loss_percent / 100)
        self.bitrate.labels("in").observe(message.bitrate_in_kbps * 1000)
        self.bitrate.labels("out").observe(message.bitrate_out_kbps * 1000)

    async def summary(self, booking_id: int) -> dict[str, Any]:
        """The session's quality: all samples together, and each booth's."""
        records = await self.health.call_samples(booking_id)

        def samples(rows: list[CallSampleRecord]) -> list[CallSample]:
            return [
                CallSample(r.rtt_ms, r.jitter_ms, r.loss_percent, r.bitrate_out_kbps, r.bitrate_in_kbps)
                for r in rows
            ]

        booths = sorted({r.booth_id for r in records})
        return {
            "booking_id": booking_id,
            "overall": summarize(samples(records)),
            "booths": [
                {
                    "booth_id": booth,
                    "relayed": any(r.relayed for r in records if r.booth_id == booth),
                    **summarize(samples([r for r in records if r.booth_id == booth])),
                }
                for booth in booths
            ],
        }


CALL_QUALITY: web.AppKey[CallQuality] = web.AppKey("call_quality")


async def handle(app: web.Application, booth_id: int, message: CallStats, send: Send) -> None:
    """The socket's entry point for ``call_stats``: no reply when accepted."""
    await app[CALL_QUALITY].record(booth_id, message)


async def _quality_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CALL_QUALITY] = CallQuality(app)
    yield


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_quality_ctx)

"""The self-test echo peer's media side (aiortc): one :class:`EchoSession` per self-test leg.

A session answers the kiosk's offer, sends each received track straight back and looks at what
it received: video frames, how many of them are black, the loudest audio level. aiortc has no
way to forward encoded RTP, so the echo decodes and re-encodes; a :class:`MediaRelay` hands
each decoded frame to the sender and to the analysis, so it is decoded once. The kiosk asks
for 320x240 at 15 frames/s for the test, which keeps that cost low (``bench/bench_echo.py``).

Stats read from aiortc are converted with :mod:`webrtc.quality`: its RTCP ``fractionLost`` is
the raw 0-255 byte and its jitter is in RTP clock units.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aioice.ice
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.stats import RTCInboundRtpStreamStats, RTCRemoteInboundRtpStreamStats
from av import AudioFrame, VideoFrame

from webrtc.quality import rtcp_fraction_to_percent, rtp_jitter_to_ms

log = logging.getLogger(__name__)

#: A frame is black when its mean luma (0-255; video black is 16) is under BLACK_LUMA and it is
#: flat (standard deviation under BLACK_SPREAD): a dark room still has texture, a cover none.
BLACK_LUMA = 28.0
BLACK_SPREAD = 4.0
#: Every how many video frames one is checked for black (the check reads the whole Y plane).
BLACK_SAMPLE_EVERY = 3
CLOCK_RATES = {"video": 90000, "audio": 48000}


def use_host_addresses(addresses: Sequence[str]) -> None:
    """Gather host candidates on these addresses only, instead of every interface's.

    For an echo on a host with many interfaces (containers, VPNs), and for a host where the
    reachable address is loopback (aioice leaves 127.0.0.1 out by itself).
    """
    chosen = list(addresses)
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: chosen


class MediaAnalysis:
    """What arrived from the kiosk: frame counts, black frames, loudest audio."""

    def __init__(self) -> None:
        self.video_frames = 0
        self.checked_frames = 0
        self.black_frames = 0
        self.audio_frames = 0
        self.peak_dbfs: float | None = None
        self.size: tuple[int, int] | None = None

    def video(self, frame: VideoFrame) -> None:
        self.video_frames += 1
        self.size = (frame.width, frame.height)
        if self.video_frames % BLACK_SAMPLE_EVERY == 0 and frame.format.name in (
            "yuv420p",
            "yuvj420p",
            "nv12",
        ):
            # A plane's rows are padded to its line size (a 320-wide frame has 384 bytes a row
            # from libvpx): only the picture's own width counts, or the padding skews both.
            plane = frame.planes[0]
            rows = np.frombuffer(memoryview(plane), dtype=np.uint8)[: plane.line_size * frame.height]
            luma = rows.reshape(frame.height, plane.line_size)[:, : frame.width]
            self.checked_frames += 1
            if float(luma.mean()) < BLACK_LUMA and float(luma.std()) < BLACK_SPREAD:
                self.black_frames += 1

    def audio(self, frame: AudioFrame) -> None:
        self.audio_frames += 1
        samples = frame.to_ndarray()
        if samples.dtype != np.int16 or samples.size == 0:
            return
        rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float32)))))
        level = 20 * math.log10(rms / 32768.0) if rms > 0 else -200.0
        if self.peak_dbfs is None or level > self.peak_dbfs:
            self.peak_dbfs = level

    def report(self) -> dict[str, Any]:
        # Black frames are counted on a sample; scale to all frames received.
        black = (
            round(self.black_frames * self.video_frames / self.checked_frames) if self.checked_frames else 0
        )
        return {
            "video_frames": self.video_frames,
            "black_frames": black,
            "audio_frames": self.audio_frames,
            "audio_dbfs": None if self.peak_dbfs is None else round(max(self.peak_dbfs, -200.0), 1),
            "width": self.size[0] if self.size else None,
            "height": self.size[1] if self.size else None,
        }


class EchoSession:
    """One peer connection that echoes a kiosk's camera and microphone."""

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.created = time.monotonic()
        self.pc = RTCPeerConnection()
        self.analysis = MediaAnalysis()
        self._relay = MediaRelay()
        self._readers: list[asyncio.Task[None]] = []
        self._closed = False
        self.pc.on("track", self._on_track)

    async def answer(self, offer_sdp: str) -> str:
        """Take the kiosk's offer (every candidate in it) and return the answer, with ours."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        return str(self.pc.localDescription.sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.pc.addTrack(self._relay.subscribe(track))
        self._readers.append(asyncio.get_running_loop().create_task(self._read(self._relay.subscribe(track))))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if isinstance(frame, VideoFrame):
                    self.analysis.video(frame)
                elif isinstance(frame, AudioFrame):
                    self.analysis.audio(frame)

    async def report(self) -> dict[str, Any]:
        """What arrived, plus the RTCP view of each direction in the browser's units."""
        out = self.analysis.report()
        out["connection_state"] = str(self.pc.connectionState)
        try:
            stats = await self.pc.getStats()
        except Exception:  # noqa: BLE001  (a closed transport has no stats: report what we have)
            return out
        out.update(rtcp_figures(stats.values()))
        return out

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._readers:
            task.cancel()
        await self.pc.close()


def rtcp_figures(stats: Iterable[object]) -> dict[str, float | None]:
    """aiortc's RTP statistics of one session in the browser's units, per kind: what arrived
    from the kiosk (``upstream``: loss from the packet counts, jitter) and what the kiosk said
    of what the echo sent (``downstream``, from its RTCP receiver reports: loss, jitter, round
    trip). aiortc's RTCP ``fractionLost`` is the raw 0-255 byte and its jitter in RTP clock
    units; a receiver report that came before any sender report has no round trip (None)."""
    out: dict[str, float | None] = {}
    for item in stats:
        kind = getattr(item, "kind", None)
        if kind not in CLOCK_RATES:
            continue
        if isinstance(item, RTCInboundRtpStreamStats):
            lost = max(item.packetsLost, 0)
            received = item.packetsReceived + lost
            out[f"{kind}_upstream_loss_percent"] = round(100.0 * lost / received, 2) if received else None
            out[f"{kind}_upstream_jitter_ms"] = round(rtp_jitter_to_ms(item.jitter, CLOCK_RATES[kind]), 2)
        elif isinstance(item, RTCRemoteInboundRtpStreamStats):
            out[f"{kind}_downstream_loss_percent"] = round(
                rtcp_fraction_to_percent(int(item.fractionLost)), 2
            )
            out[f"{kind}_downstream_jitter_ms"] = round(rtp_jitter_to_ms(item.jitter, CLOCK_RATES[kind]), 2)
            if item.roundTripTime is not None:
                out[f"{kind}_rtt_ms"] = round(item.roundTripTime * 1000, 1)
    return out


__all__ = ["EchoSession", "rtcp_figures", "use_host_addresses"]

"""The headless booth's self-test (aiortc): ``booth-agent --selftest`` (docs/selftest.md).

It speaks protocol section 13 on its own socket: ``selftest_start``, then for each leg an
offer with every candidate gathered, ``media_seconds`` of a test pattern and a tone to the
echo peer, and a ``selftest_report`` from aiortc's stats, in the browser's units (aiortc's
RTCP loss is the raw 0-255 fraction and its jitter is in RTP clock units). aiortc cannot
force relay-only gathering (no ``iceTransportPolicy``), so the agent runs the ``direct`` leg
only and leaves the relay legs out of its report, rather than report them as failed.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.stats import RTCInboundRtpStreamStats, RTCOutboundRtpStreamStats, RTCRemoteInboundRtpStreamStats
from av import AudioFrame

from webrtc.limits import PROTOCOL_VERSION
from webrtc.peer import FrameCounter, PatternTrack, configuration
from webrtc.quality import rtcp_fraction_to_percent, rtp_jitter_to_ms

log = logging.getLogger("booth_agent.selftest")

CLOCK_RATES = {"video": 90000, "audio": 48000}


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone at -12 dBFS, 20 ms frames of 48 kHz mono: a microphone that is not silent."""

    kind = "audio"
    RATE, SAMPLES = 48000, 960

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._pts / self.RATE - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(self.SAMPLES) + self._pts) / self.RATE
        samples = (0.25 * 32767 * np.sin(2 * math.pi * 440 * t)).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.RATE)
        self._pts += self.SAMPLES
        return frame


async def _leg_stats(pc: RTCPeerConnection, seconds: float) -> dict[str, Any]:
    stats = await pc.getStats()
    out: dict[str, Any] = {}
    lost = received = 0
    sent_bytes = 0
    for item in stats.values():
        kind = getattr(item, "kind", None)
        if isinstance(item, RTCRemoteInboundRtpStreamStats) and kind == "video":
            out["rtt_ms"] = round(item.roundTripTime * 1000, 1)
        elif isinstance(item, RTCInboundRtpStreamStats) and kind in CLOCK_RATES:
            lost += max(item.packetsLost, 0)
            received += item.packetsReceived
            if kind == "video":
                out["jitter_ms"] = round(rtp_jitter_to_ms(item.jitter, CLOCK_RATES[kind]), 2)
        elif isinstance(item, RTCOutboundRtpStreamStats):
            sent_bytes += item.bytesSent
    if received + lost:
        out["loss_percent"] = round(100.0 * lost / (received + lost), 2)
    out["bitrate_up_kbps"] = round(sent_bytes * 8 / 1000 / seconds, 1)
    # aiortc keeps no received byte count; the RTCP fraction of the echo's reports on what we
    # sent is the other direction's loss, kept for the logs.
    for item in stats.values():
        if isinstance(item, RTCRemoteInboundRtpStreamStats) and getattr(item, "kind", None) == "video":
            out["upstream_loss_percent"] = round(rtcp_fraction_to_percent(int(item.fractionLost)), 2)
    return out


async def _run_leg(
    ws: aiohttp.ClientWebSocketResponse,
    inbox: asyncio.Queue[dict[str, Any]],
    test_id: str,
    leg: Mapping[str, Any],
    seconds: float,
) -> dict[str, Any]:
    pc = RTCPeerConnection(configuration(leg["ice_servers"]))
    video, audio = PatternTrack(), ToneTrack()
    pc.addTrack(video)
    pc.addTrack(audio)
    counters: list[FrameCounter] = []
    pc.on("track", lambda track: counters.append(FrameCounter(track)))
    report: dict[str, Any] = {"leg": leg["leg"], "connected": False}
    try:
        await pc.setLocalDescription(await pc.createOffer())
        offer = {
            "type": "selftest_offer",
            "test_id": test_id,
            "leg": leg["leg"],
            "sdp": pc.localDescription.sdp,
        }
        await ws.send_str(json.dumps(offer))
        answer = await _next(inbox, {"selftest_answer"}, 15)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        await asyncio.sleep(seconds)
        report["connected"] = pc.connectionState == "connected"
        if report["connected"]:
            report["media"] = True
            report["candidate_type"] = "host"
            report["frames_received"] = sum(c.frames for c in counters if c.track.kind == "video")
            report.update(
                {k: v for k, v in (await _leg_stats(pc, seconds)).items() if k != "upstream_loss_percent"}
            )
            report["bitrate_down_kbps"] = report["bitrate_up_kbps"]  # the echo returns what it gets
        else:
            report["error"] = f"connection {pc.connectionState}"
    finally:
        for counter in counters:
            await counter.stop()
        await pc.close()
        video.stop()
        audio.stop()
    return report


async def _next(inbox: asyncio.Queue[dict[str, Any]], kinds: set[str], within: float) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            message = await inbox.get()
            if message.get("type") in kinds:
                return message
            if message.get("type") == "error":
                raise RuntimeError(f"{message.get('code')}: {message.get('message')}")

    return await asyncio.wait_for(wait(), within)


async def run_selftest(server_url: str, device_key: str, *, trigger: str = "manual") -> dict[str, Any]:
    """Connect as the booth, run one self-test and return its ``selftest_result``."""
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Device {device_key}"}
        async with session.ws_connect(server_url, headers=headers, max_msg_size=64 * 1024) as ws:
            inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

            async def read() -> None:
                async for frame in ws:
                    if frame.type == aiohttp.WSMsgType.TEXT:
                        inbox.put_nowait(json.loads(frame.data))

            reader = asyncio.get_running_loop().create_task(read())
            try:
                await ws.send_str(
                    json.dumps({"type": "hello", "version": PROTOCOL_VERSION, "client": "booth-agent"})
                )
                await _next(inbox, {"welcome"}, 15)
                await ws.send_str(json.dumps({"type": "selftest_start", "trigger": trigger}))
                ready = await _next(inbox, {"selftest_ready"}, 120)
                legs = [leg for leg in ready["legs"] if not leg["relay_only"]]
                reports = [
                    await _run_leg(ws, inbox, ready["test_id"], leg, ready["media_seconds"]) for leg in legs
                ]
                await ws.send_str(
                    json.dumps(
                        {
                            "type": "selftest_report",
                            "test_id": ready["test_id"],
                            "camera": True,
                            "microphone": True,
                            "legs": reports,
                        }
                    )
                )
                return await _next(inbox, {"selftest_result"}, 30)
            finally:
                reader.cancel()


def describe(result: Mapping[str, Any]) -> str:
    """One line for a terminal: verdict, score, figures, problems."""
    figures: Sequence[str] = [f"{k}={v}" for k, v in result.get("figures", {}).items()]
    problems = ", ".join(result.get("problems", [])) or "none"
    return f"{result['verdict']} (score {result.get('score')}): {' '.join(figures)}; problems: {problems}"

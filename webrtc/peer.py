"""aiortc peers: the only module of the project that imports aiortc.

:class:`PeerLink` is one RTCPeerConnection towards one partner booth, negotiated the way
``docs/protocol.md`` section 7 says (the impolite side offers; on a collision the impolite side
ignores the incoming offer). aiortc gathers its candidates inside ``setLocalDescription`` and
puts them in the SDP, so a link sends its description followed by one end-of-candidates
(``candidate: null``); it takes the partner's trickled candidates one by one.

aiortc cannot roll back a local offer or restart ICE. A link therefore never makes an offer
as the polite side (it only answers), and an ``ice_restart`` from the partner is logged and
ignored: the browser side restarts, or the partner rejoins afresh.

What is sent is :class:`PatternTrack` (a moving test pattern), or in ``echo`` mode the
partner's own video once it arrives (a self-test echo peer). Received video frames are
counted by :class:`FrameCounter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

log = logging.getLogger(__name__)

SendSignal = Callable[[dict[str, Any]], Awaitable[None]]
"""Sends one client signal (``offer``, ``answer``, ``candidate``); booking_id and to are added by the caller."""


class PatternTrack(VideoStreamTrack):
    """A 320x240 test pattern at 30 frames/s: colour bars with a bar that moves every frame.

    The moving bar makes each frame different, so the encoder really sends video and a receiver
    can tell frames apart.
    """

    WIDTH, HEIGHT = 320, 240
    _BARS = np.array(
        [
            [192, 192, 192],
            [192, 192, 0],
            [0, 192, 192],
            [0, 192, 0],
            [192, 0, 192],
            [192, 0, 0],
            [0, 0, 192],
            [16, 16, 16],
        ],
        dtype=np.uint8,
    )

    def __init__(self) -> None:
        super().__init__()
        columns = np.repeat(self._BARS, self.WIDTH // len(self._BARS), axis=0)
        self._background = np.ascontiguousarray(np.broadcast_to(columns, (self.HEIGHT, self.WIDTH, 3)))
        self._count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = self._background.copy()
        top = (self._count * 4) % self.HEIGHT
        image[top : top + 8, :, :] = 255
        self._count += 1
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


class FrameCounter:
    """Reads a remote track until it ends; counts video frames and remembers the last size."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"frames-{track.kind}")

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await self.track.recv()
                if isinstance(frame, VideoFrame):
                    self.frames += 1
                    self.size = (frame.width, frame.height)
                    self._changed.set()

    async def wait_for(self, frames: int) -> None:
        while self.frames < frames:
            self._changed.clear()
            await self._changed.wait()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def configuration(ice_servers: Sequence[Mapping[str, Any]]) -> RTCConfiguration:
    """RTCConfiguration from the protocol's ``ice_servers`` (RTCIceServer dicts)."""
    servers = [
        RTCIceServer(urls=list(s["urls"]), username=s.get("username"), credential=s.get("credential"))
        for s in ice_servers
    ]
    return RTCConfiguration(iceServers=servers)


def candidate_from_json(raw: Mapping[str, Any]) -> RTCIceCandidate | None:
    """RTCIceCandidateInit (the browser's ``toJSON()``) to aiortc; None for an empty or TCP candidate."""
    text = str(raw.get("candidate") or "")
    text = text.removeprefix("a=").removeprefix("candidate:")
    if not text.strip():
        return None  # an end-of-candidates for one m-line
    candidate = candidate_from_sdp(text)
    if candidate.protocol.lower() != "udp":
        return None  # aioice speaks ICE over UDP only
    candidate.sdpMid = raw.get("sdpMid")
    candidate.sdpMLineIndex = raw.get("sdpMLineIndex")
    return candidate


class PeerLink:
    """One RTCPeerConnection towards one partner booth."""

    def __init__(
        self,
        peer_id: int,
        role: str,
        ice_servers: Sequence[Mapping[str, Any]],
        send: SendSignal,
        *,
        echo: bool = False,
    ) -> None:
        self.peer_id = peer_id
        self.polite = role == "polite"
        self.echo = echo
        self._send = send
        self.pc = RTCPeerConnection(configuration(ice_servers))
        self.video = PatternTrack()
        self._video_sender = self.pc.addTrack(self.video)
        self._relay = MediaRelay()
        self.counters: list[FrameCounter] = []
        self._closed = False
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def frames_received(self) -> int:
        return sum(c.frames for c in self.counters if c.track.kind == "video")

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    async def wait_for_frames(self, frames: int) -> None:
        while True:
            video = [c for c in self.counters if c.track.kind == "video"]
            if video:
                await video[0].wait_for(frames)
                return
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        """The partner arrived: the impolite side makes the first offer, the polite side waits."""
        if not self.polite:
            await self._offer()

    async def on_description(self, kind: str, sdp: str) -> None:
        """An ``offer`` or ``answer`` relayed from the partner."""
        if self._closed:
            return
        if kind == "offer":
            if self.pc.signalingState != "stable":
                # A collision. The impolite side ignores the partner's offer; an aiortc polite
                # side never has an offer of its own out, so it cannot get here.
                log.info("booth %s: ignoring a colliding offer", self.peer_id)
                return
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
            await self._send_description("answer")
        elif self.pc.signalingState == "have-local-offer":
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        else:
            log.info("booth %s: ignoring an answer in state %s", self.peer_id, self.pc.signalingState)

    async def on_candidate(self, raw: Mapping[str, Any] | None) -> None:
        """A trickled candidate from the partner, or None for its end of candidates."""
        if self._closed or self.pc.remoteDescription is None:
            return  # candidates of an offer we ignored
        if raw is None:
            await self.pc.addIceCandidate(None)
            return
        candidate = candidate_from_json(raw)
        if candidate is not None:
            await self.pc.addIceCandidate(candidate)

    def on_ice_restart(self) -> None:
        log.warning("booth %s asked for an ICE restart; aiortc cannot restart ICE, ignored", self.peer_id)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for counter in self.counters:
            await counter.stop()
        await self.pc.close()
        self.video.stop()

    async def _offer(self) -> None:
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        await self._send_description("offer")

    async def _send_description(self, kind: str) -> None:
        description = self.pc.localDescription
        await self._send({"type": kind, "sdp": description.sdp})
        # aiortc put every candidate in the SDP: say at once that there will be no more.
        await self._send({"type": "candidate", "candidate": None})

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self.echo and track.kind == "video":
            self._video_sender.replaceTrack(self._relay.subscribe(track))
            track = self._relay.subscribe(track)
        self.counters.append(FrameCounter(track))

    async def _on_state(self) -> None:
        log.info("booth %s: connection %s", self.peer_id, self.pc.connectionState)


__all__ = ["FrameCounter", "PatternTrack", "PeerLink", "candidate_from_json", "configuration"]

"""The echo peer's analysis (webrtc/echo_peer.py) with aiortc's and PyAV's own objects: its
reading of aiortc's RTP statistics (RTCP ``fractionLost`` is the raw 0-255 byte, jitter is in
RTP clock units, a receiver report that came before any sender report carries no round trip),
and the black-frame check on decoded frames whose rows are padded."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from aiortc.stats import RTCInboundRtpStreamStats, RTCRemoteInboundRtpStreamStats, RTCTransportStats
from av import VideoFrame

from webrtc.echo_peer import BLACK_SAMPLE_EVERY, MediaAnalysis, rtcp_figures

AT = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)


def inbound(kind: str, received: int, lost: int, jitter: int) -> RTCInboundRtpStreamStats:
    return RTCInboundRtpStreamStats(
        timestamp=AT, type="inbound-rtp", id=f"in-{kind}", ssrc=1, kind=kind, transportId="t",
        packetsReceived=received, packetsLost=lost, jitter=jitter,
    )  # fmt: skip


def remote(kind: str, fraction: int, jitter: int, rtt: float | None) -> RTCRemoteInboundRtpStreamStats:
    return RTCRemoteInboundRtpStreamStats(
        timestamp=AT, type="remote-inbound-rtp", id=f"ri-{kind}", ssrc=2, kind=kind, transportId="t",
        packetsReceived=500, packetsLost=3, jitter=jitter, roundTripTime=rtt,  # type: ignore[arg-type]
        fractionLost=fraction,
    )  # fmt: skip


def test_aiortc_units_become_the_browsers() -> None:
    figures = rtcp_figures(
        [
            inbound("video", received=990, lost=10, jitter=900),  # 900 / 90 kHz = 10 ms
            inbound("audio", received=500, lost=0, jitter=960),  # 960 / 48 kHz = 20 ms
            remote("video", fraction=64, jitter=4500, rtt=0.0425),  # 64 / 256 = 25 %
            remote("audio", fraction=255, jitter=48, rtt=0.05),
            RTCTransportStats(timestamp=AT, type="transport", id="t", packetsSent=1, packetsReceived=1,
                              bytesSent=1, bytesReceived=1, iceRole="controlled", dtlsState="connected"),
        ]
    )  # fmt: skip
    assert figures == {
        "video_upstream_loss_percent": 1.0,
        "video_upstream_jitter_ms": 10.0,
        "audio_upstream_loss_percent": 0.0,
        "audio_upstream_jitter_ms": 20.0,
        "video_downstream_loss_percent": 25.0,
        "video_downstream_jitter_ms": 50.0,
        "video_rtt_ms": 42.5,
        "audio_downstream_loss_percent": 99.61,
        "audio_downstream_jitter_ms": 1.0,
        "audio_rtt_ms": 50.0,
    }


def test_a_receiver_report_before_any_round_trip_leaves_the_round_trip_out() -> None:
    # aiortc's sender reports roundTripTime=None until a receiver report answers one of its
    # sender reports; a short probe leg often closes before that.
    figures = rtcp_figures([remote("video", fraction=0, jitter=0, rtt=None), inbound("video", 0, 0, 0)])
    assert figures == {
        "video_downstream_loss_percent": 0.0,
        "video_downstream_jitter_ms": 0.0,
        "video_upstream_loss_percent": None,
        "video_upstream_jitter_ms": 0.0,
    }


def frame_of(width: int, height: int, luma: np.ndarray | int, padding: int = 0) -> VideoFrame:
    """A yuv420p frame whose picture has ``luma`` and whose row padding holds ``padding``."""
    frame = VideoFrame(width, height, "yuv420p")
    plane = frame.planes[0]
    rows = np.full((height, plane.line_size), padding, dtype=np.uint8)
    rows[:, :width] = luma
    plane.update(rows.tobytes())
    return frame


@pytest.mark.parametrize("width", [320, 330])  # 330: rows padded to 336 bytes, as libvpx pads
def test_black_frames_are_counted_on_the_picture_not_its_row_padding(width: int) -> None:
    frame = frame_of(width, 240, 16, padding=128)  # what the padding holds is unspecified
    assert frame.planes[0].line_size > width or width == 320
    analysis = MediaAnalysis()
    for _ in range(BLACK_SAMPLE_EVERY * 4):
        analysis.video(frame)
    report = analysis.report()
    assert report["video_frames"] == 12 and report["black_frames"] == 12
    assert (report["width"], report["height"]) == (width, 240)


def test_a_dark_room_is_not_a_black_camera() -> None:
    texture = np.random.default_rng(3).integers(5, 45, size=(240, 330), dtype=np.uint8)  # mean ~25
    analysis = MediaAnalysis()
    for _ in range(BLACK_SAMPLE_EVERY * 2):
        analysis.video(frame_of(330, 240, texture, padding=16))
    assert analysis.report()["black_frames"] == 0

"""Call quality as numbers and a verdict: pure functions, no I/O (docs/selftest.md).

The figures come from two sides of a self-test: the browser's own ``getStats()`` (round trip,
jitter and loss of what the echo sends back, bitrate each way) and the echo peer's reports
(what arrived from the booth's camera and microphone, black frames, silence). aiortc reports
RTCP as the wire carries it; :func:`rtcp_fraction_to_percent` and :func:`rtp_jitter_to_ms`
turn those into the units the browser uses.

The verdict is the worst of one band per figure, with the thresholds in :data:`BANDS`; the
MOS-like score is the simplified ITU-T G.107 E-model that WebRTC quality tools use.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class Verdict(enum.StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


_ORDER = {Verdict.GOOD: 0, Verdict.FAIR: 1, Verdict.POOR: 2}


class VideoLimit(enum.StrEnum):
    """What held the kiosk's video encoder back during the test: the browser's
    ``outbound-rtp.qualityLimitationReason`` (W3C webrtc-stats), the one it spent the most time
    in (``qualityLimitationDurations``)."""

    NONE = "none"
    CPU = "cpu"
    BANDWIDTH = "bandwidth"
    OTHER = "other"


class Problem(enum.StrEnum):
    """What a self-test found wrong, each with a message the kiosk shows in its language."""

    CAMERA_MISSING = "camera_missing"  # getUserMedia found no camera or was refused
    MICROPHONE_MISSING = "microphone_missing"
    CAMERA_NOT_SENDING = "camera_not_sending"  # the echo received no video frame
    BLACK_VIDEO = "black_video"  # the frames that arrived are (nearly) all black
    MICROPHONE_SILENT = "microphone_silent"  # the audio that arrived is silence
    NO_MEDIA_BACK = "no_media_back"  # nothing came back from the echo
    NO_CONNECTION = "no_connection"  # no path reached the echo at all
    UDP_BLOCKED = "udp_blocked"  # only TCP/TLS relay works: calls go through the relay
    DIRECT_BLOCKED = "direct_blocked"  # direct fails, a relay works: calls go through the relay
    RELAY_UNREACHABLE = "relay_unreachable"  # TURN is configured but no relay leg connected
    HIGH_LOSS = "high_loss"
    HIGH_ROUND_TRIP = "high_round_trip"
    HIGH_JITTER = "high_jitter"
    LOW_BITRATE = "low_bitrate"
    #: The video came back below the good band, but the booth's encoder says its own CPU held
    #: it back (``video_limited_by: "cpu"``): the computer is too busy, not the network.
    DEVICE_BUSY = "device_busy"


@dataclass(frozen=True)
class Band:
    """``good`` while the figure is better than ``good``, ``poor`` from ``poor`` on."""

    good: float
    poor: float
    higher_is_better: bool = False

    def verdict(self, value: float) -> Verdict:
        if self.higher_is_better:
            return Verdict.GOOD if value >= self.good else Verdict.POOR if value < self.poor else Verdict.FAIR
        return Verdict.GOOD if value < self.good else Verdict.POOR if value >= self.poor else Verdict.FAIR


#: The thresholds of the verdict (docs/selftest.md says where each comes from).
BANDS: dict[str, Band] = {
    # Daily's bands: good below 5 % loss and 300 ms round trip, bad from 10 % and 600 ms.
    # Jitsi's pre-join test uses 5 % and 10 % too (and 33 % for "very poor").
    "loss_percent": Band(good=5.0, poor=10.0),
    "rtt_ms": Band(good=300.0, poor=600.0),
    # Jitter is folded into the E-model's effective latency; alone, 30 ms and 100 ms are the
    # usual marks for interactive audio (ITU-T G.114's 150 ms mouth-to-ear budget, halved).
    "jitter_ms": Band(good=30.0, poor=100.0),
    # Twilio Preflight's MOS cut-offs: 4.2 / 4.0 / 3.6 / 3.0. "good" here is Twilio's
    # excellent, great and good (>= 3.6), "fair" its fair (3.0-3.6), "poor" its degraded.
    "mos": Band(good=3.6, poor=3.0, higher_is_better=True),
}
#: In-call bitrate (Daily): good above 1.1 Mbit/s, bad below 700 kbit/s.
CALL_BITRATE = Band(good=1100.0, poor=700.0, higher_is_better=True)
#: The self-test sends a modest 320x240 at 15 frames/s, so Daily's call bitrates do not apply:
#: what comes back from the echo must still be a moving picture.
SELFTEST_BITRATE = Band(good=150.0, poor=60.0, higher_is_better=True)
#: Share of black frames from which the camera counts as sending black (a cover, a dead sensor).
BLACK_SHARE = 0.8
#: Loudest audio level below which the microphone counts as silent (dBFS).
SILENCE_DBFS = -60.0

_FIGURE_PROBLEMS = {
    "loss_percent": Problem.HIGH_LOSS,
    "rtt_ms": Problem.HIGH_ROUND_TRIP,
    "jitter_ms": Problem.HIGH_JITTER,
}


# --- units -----------------------------------------------------------------------------------


def rtcp_fraction_to_percent(fraction_lost: int) -> float:
    """RTCP's ``fraction lost`` (RFC 3550 6.4.1: an 8-bit fixed point, 0-255) as a percentage.

    aiortc passes it on raw (``RTCRemoteInboundRtpStreamStats.fractionLost``), where browsers
    report a 0-1 ratio under the same name.
    """
    if not 0 <= fraction_lost <= 255:
        raise ValueError(f"fraction lost {fraction_lost} is outside 0-255")
    return fraction_lost * 100.0 / 256.0


def rtp_jitter_to_ms(jitter: float, clock_rate: int) -> float:
    """RTP interarrival jitter (RFC 3550 A.8, in timestamp units) in milliseconds.

    aiortc reports jitter in the stream's RTP clock units (90,000 Hz for video, 48,000 Hz for
    Opus); browsers report seconds.
    """
    if clock_rate <= 0:
        raise ValueError("the RTP clock rate must be positive")
    return jitter * 1000.0 / clock_rate


# --- score -----------------------------------------------------------------------------------


def mos(rtt_ms: float, jitter_ms: float, loss_percent: float) -> float:
    """A MOS-like score, 1.0-4.5, from the simplified E-model (ITU-T G.107).

    Effective latency is half the round trip plus twice the jitter plus 10 ms of codec delay;
    latency costs 1 R point per 40 ms up to 160 ms and 1 per 10 ms beyond, loss 2.5 points per
    percent; R maps to MOS with G.107's formula.
    """
    effective = rtt_ms / 2 + 2 * jitter_ms + 10
    r = 93.2 - (effective / 40 if effective < 160 else (effective - 120) / 10) - 2.5 * loss_percent
    if r <= 0:
        return 1.0
    r = min(r, 100.0)
    score = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
    return round(max(1.0, min(4.5, score)), 2)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_ORDER.__getitem__, default=Verdict.GOOD)


# --- a self-test -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LegResult:
    """One path tried by a self-test, as the kiosk and the echo saw it.

    ``leg`` is ``direct``, ``relay_udp``, ``relay_tcp`` or ``relay_tls``. Figures are None when
    the leg did not carry media long enough to measure them.
    """

    leg: str
    connected: bool
    media: bool = False  # the leg that carried the test's media for its whole duration
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    loss_percent: float | None = None
    bitrate_up_kbps: float | None = None
    bitrate_down_kbps: float | None = None
    frames_received: int = 0  # by the kiosk, from the echo
    #: By the echo, from the kiosk's camera; None when the echo's report did not arrive (then
    #: the checks of the camera, black frames and the microphone are left out, not failed).
    echo_video_frames: int | None = None
    echo_black_frames: int = 0
    echo_audio_dbfs: float | None = None  # loudest level the echo heard; None: no audio arrived
    #: What held the kiosk's video encoder back; None: the browser did not say.
    video_limited_by: VideoLimit | None = None


@dataclass(frozen=True)
class Devices:
    camera: bool = True
    microphone: bool = True


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    score: float | None
    figures: dict[str, float | int | str | None]
    paths: dict[str, bool]
    problems: tuple[Problem, ...] = field(default=())


def assess(legs: Sequence[LegResult], devices: Devices = Devices()) -> Assessment:
    """The verdict of one self-test from its legs. Any problem of the devices or of the media
    makes it ``poor``; each figure adds its band; a relay that is configured but unreachable
    keeps it from ``good`` (a call across the ocean may need it)."""
    paths = {leg.leg: leg.connected for leg in legs}
    problems: list[Problem] = []
    verdicts: list[Verdict] = []
    if not devices.camera:
        problems.append(Problem.CAMERA_MISSING)
        verdicts.append(Verdict.POOR)
    if not devices.microphone:
        problems.append(Problem.MICROPHONE_MISSING)
        verdicts.append(Verdict.POOR)
    relays = {name: ok for name, ok in paths.items() if name.startswith("relay_")}
    if relays and not any(relays.values()):
        problems.append(Problem.RELAY_UNREACHABLE)
        verdicts.append(Verdict.FAIR)
    if paths.get("direct") is False and any(relays.values()):
        udp = relays.get("relay_udp")
        problems.append(Problem.UDP_BLOCKED if udp is False else Problem.DIRECT_BLOCKED)
    media = next((leg for leg in legs if leg.media), None)
    figures: dict[str, float | int | str | None] = {}
    score: float | None = None
    if media is None:
        if not any(paths.values()):
            problems.append(Problem.NO_CONNECTION)
        elif devices.camera:
            problems.append(Problem.NO_MEDIA_BACK)
        verdicts.append(Verdict.POOR)
    else:
        figures = {
            "path": media.leg,
            "rtt_ms": media.rtt_ms,
            "jitter_ms": media.jitter_ms,
            "loss_percent": media.loss_percent,
            "bitrate_up_kbps": media.bitrate_up_kbps,
            "bitrate_down_kbps": media.bitrate_down_kbps,
            "frames_received": media.frames_received,
            "echo_video_frames": media.echo_video_frames,
            "black_percent": (
                round(100.0 * media.echo_black_frames / media.echo_video_frames, 1)
                if media.echo_video_frames
                else None
            ),
            "audio_dbfs": media.echo_audio_dbfs,
            "video_limited_by": media.video_limited_by,
        }
        verdicts.extend(_media_verdicts(media, devices, problems))
        if media.rtt_ms is not None and media.loss_percent is not None:
            score = mos(media.rtt_ms, media.jitter_ms or 0.0, media.loss_percent)
            verdicts.append(BANDS["mos"].verdict(score))
    return Assessment(worst(verdicts), score, figures, paths, tuple(dict.fromkeys(problems)))


def _media_verdicts(media: LegResult, devices: Devices, problems: list[Problem]) -> list[Verdict]:
    out: list[Verdict] = []
    echo_saw = media.echo_video_frames is not None
    if devices.camera and media.echo_video_frames is not None:
        if media.echo_video_frames == 0:
            problems.append(Problem.CAMERA_NOT_SENDING)
            out.append(Verdict.POOR)
        elif media.echo_black_frames >= BLACK_SHARE * media.echo_video_frames:
            problems.append(Problem.BLACK_VIDEO)
            out.append(Verdict.POOR)
    if devices.camera and media.frames_received == 0 and media.echo_video_frames != 0:
        problems.append(Problem.NO_MEDIA_BACK)
        out.append(Verdict.POOR)
    if (
        devices.microphone
        and echo_saw
        and (media.echo_audio_dbfs is None or media.echo_audio_dbfs < SILENCE_DBFS)
    ):
        problems.append(Problem.MICROPHONE_SILENT)
        out.append(Verdict.POOR)
    for name, problem in _FIGURE_PROBLEMS.items():
        value = getattr(media, name)
        if value is not None:
            band = BANDS[name].verdict(value)
            out.append(band)
            if band is not Verdict.GOOD:
                problems.append(problem)
    if media.bitrate_down_kbps is not None and devices.camera:
        band = SELFTEST_BITRATE.verdict(media.bitrate_down_kbps)
        if band is Verdict.GOOD:
            out.append(band)
        elif media.video_limited_by == VideoLimit.CPU:
            # The booth's encoder sent less because its computer was busy: the echo can only
            # send back what it got, so the bitrate says nothing of the network; the verdict
            # comes from the other figures (docs/selftest.md, "A busy computer").
            problems.append(Problem.DEVICE_BUSY)
        else:
            out.append(band)
            problems.append(Problem.LOW_BITRATE)
    return out


# --- in-call summaries -----------------------------------------------------------------------


@dataclass(frozen=True)
class CallSample:
    """One kiosk's ``call_stats`` (every 10 s of a call)."""

    rtt_ms: float
    jitter_ms: float
    loss_percent: float
    bitrate_out_kbps: float
    bitrate_in_kbps: float


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def summarize(samples: Sequence[CallSample]) -> dict[str, float | int | str | None]:
    """A session's quality: medians of its samples, the 95th percentile of the round trip, and
    the verdict of the medians against the bands (Daily's bitrate band for calls)."""
    if not samples:
        return {"samples": 0, "verdict": None}
    rtt = [s.rtt_ms for s in samples]
    p50_rtt = median(rtt)
    p95_rtt = round(_percentile(rtt, 0.95), 1)
    loss = median([s.loss_percent for s in samples])
    jitter = median([s.jitter_ms for s in samples])
    bitrate = median([s.bitrate_in_kbps for s in samples])
    assert p50_rtt is not None and loss is not None and jitter is not None and bitrate is not None
    score = mos(p50_rtt, jitter, loss)
    verdict = worst(
        [
            BANDS["rtt_ms"].verdict(p50_rtt),
            BANDS["loss_percent"].verdict(loss),
            BANDS["jitter_ms"].verdict(jitter),
            BANDS["mos"].verdict(score),
            CALL_BITRATE.verdict(bitrate),
        ]
    )
    return {
        "samples": len(samples),
        "rtt_ms_p50": p50_rtt,
        "rtt_ms_p95": p95_rtt,
        "jitter_ms_p50": jitter,
        "loss_percent_p50": loss,
        "bitrate_in_kbps_p50": bitrate,
        "bitrate_out_kbps_p50": median([s.bitrate_out_kbps for s in samples]),
        "score": score,
        "verdict": verdict.value,
        "text": f"p50 round trip {p50_rtt:g} ms, {loss:g} % loss, {bitrate / 1000:.1f} Mbit/s",
    }


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[index]


__all__ = [
    "BANDS",
    "Assessment",
    "Band",
    "CallSample",
    "Devices",
    "LegResult",
    "Problem",
    "Verdict",
    "VideoLimit",
    "assess",
    "mos",
    "rtcp_fraction_to_percent",
    "rtp_jitter_to_ms",
    "summarize",
]

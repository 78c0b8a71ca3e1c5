"""The self-test verdict and the call summaries: pure, table-driven (docs/selftest.md)."""

from __future__ import annotations

import pytest

from webrtc.quality import (
    CallSample,
    Devices,
    LegResult,
    Problem,
    Verdict,
    VideoLimit,
    assess,
    mos,
    rtcp_fraction_to_percent,
    rtp_jitter_to_ms,
    summarize,
)


def media_leg(**overrides: object) -> LegResult:
    values: dict[str, object] = {
        "leg": "direct",
        "connected": True,
        "media": True,
        "rtt_ms": 40.0,
        "jitter_ms": 3.0,
        "loss_percent": 0.1,
        "bitrate_up_kbps": 420.0,
        "bitrate_down_kbps": 400.0,
        "frames_received": 140,
        "echo_video_frames": 145,
        "echo_black_frames": 0,
        "echo_audio_dbfs": -20.0,
    }
    values.update(overrides)
    return LegResult(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fraction", "percent"), [(0, 0.0), (1, 0.390625), (64, 25.0), (128, 50.0), (255, 99.609375)]
)
def test_rtcp_fraction_lost_is_an_8_bit_fixed_point(fraction: int, percent: float) -> None:
    assert rtcp_fraction_to_percent(fraction) == percent


@pytest.mark.parametrize("fraction", [-1, 256])
def test_rtcp_fraction_outside_a_byte_is_refused(fraction: int) -> None:
    with pytest.raises(ValueError, match="0-255"):
        rtcp_fraction_to_percent(fraction)


@pytest.mark.parametrize(("jitter", "rate", "ms"), [(900, 90000, 10.0), (480, 48000, 10.0), (0, 90000, 0.0)])
def test_rtp_jitter_is_in_clock_units(jitter: int, rate: int, ms: float) -> None:
    assert rtp_jitter_to_ms(jitter, rate) == ms


@pytest.mark.parametrize(
    ("rtt", "jitter", "loss", "low", "high"),
    [
        (20, 1, 0, 4.3, 4.5),  # a LAN: near the E-model's ceiling
        (150, 10, 1, 4.0, 4.4),
        (300, 30, 3, 3.6, 4.1),
        (600, 50, 10, 1.0, 3.0),  # Daily's "bad" on both counts
        (2000, 500, 40, 1.0, 1.0),
    ],
)
def test_mos_falls_with_delay_and_loss(
    rtt: float, jitter: float, loss: float, low: float, high: float
) -> None:
    assert low <= mos(rtt, jitter, loss) <= high


def test_a_clean_test_is_good_with_its_score() -> None:
    result = assess([media_leg()])
    assert result.verdict is Verdict.GOOD
    assert result.problems == ()
    assert result.score is not None and result.score >= 4.3
    assert result.figures["path"] == "direct" and result.figures["black_percent"] == 0.0
    assert result.paths == {"direct": True}


@pytest.mark.parametrize(
    ("overrides", "verdict", "problem"),
    [
        ({"loss_percent": 4.9}, Verdict.GOOD, None),
        ({"loss_percent": 5.0}, Verdict.FAIR, Problem.HIGH_LOSS),
        ({"loss_percent": 10.0}, Verdict.POOR, Problem.HIGH_LOSS),
        ({"rtt_ms": 299.0}, Verdict.GOOD, None),
        ({"rtt_ms": 300.0}, Verdict.FAIR, Problem.HIGH_ROUND_TRIP),
        ({"rtt_ms": 600.0}, Verdict.POOR, Problem.HIGH_ROUND_TRIP),
        ({"jitter_ms": 45.0}, Verdict.FAIR, Problem.HIGH_JITTER),
        ({"bitrate_down_kbps": 100.0}, Verdict.FAIR, Problem.LOW_BITRATE),
        ({"bitrate_down_kbps": 30.0}, Verdict.POOR, Problem.LOW_BITRATE),
        ({"echo_black_frames": 140}, Verdict.POOR, Problem.BLACK_VIDEO),
        ({"echo_black_frames": 20}, Verdict.GOOD, None),
        ({"echo_video_frames": 0, "echo_black_frames": 0}, Verdict.POOR, Problem.CAMERA_NOT_SENDING),
        ({"echo_audio_dbfs": -75.0}, Verdict.POOR, Problem.MICROPHONE_SILENT),
        ({"echo_audio_dbfs": None}, Verdict.POOR, Problem.MICROPHONE_SILENT),
        ({"frames_received": 0}, Verdict.POOR, Problem.NO_MEDIA_BACK),
    ],
)
def test_each_band_and_media_check(
    overrides: dict[str, object], verdict: Verdict, problem: Problem | None
) -> None:
    result = assess([media_leg(**overrides)])
    assert result.verdict is verdict
    if problem is None:
        assert result.problems == ()
    else:
        assert problem in result.problems


@pytest.mark.parametrize(("bitrate", "band"), [(100.0, "fair"), (30.0, "poor")])
def test_a_low_bitrate_held_back_by_the_booths_cpu_is_not_the_networks(bitrate: float, band: str) -> None:
    # Each of these alone would make the verdict ``band`` with low_bitrate (test above).
    clean = assess([media_leg(bitrate_down_kbps=bitrate, video_limited_by=VideoLimit.CPU)])
    assert clean.verdict is Verdict.GOOD and clean.problems == (Problem.DEVICE_BUSY,)
    assert clean.figures["video_limited_by"] == "cpu"
    # The verdict comes from the other figures: a jittery network is still fair, not better.
    jittery = assess([media_leg(bitrate_down_kbps=bitrate, jitter_ms=45.0, video_limited_by=VideoLimit.CPU)])
    assert jittery.verdict is Verdict.FAIR
    assert jittery.problems == (Problem.HIGH_JITTER, Problem.DEVICE_BUSY)


@pytest.mark.parametrize("limit", [VideoLimit.BANDWIDTH, VideoLimit.NONE, VideoLimit.OTHER, None])
def test_a_low_bitrate_not_held_back_by_the_cpu_is_low_bitrate_as_before(limit: VideoLimit | None) -> None:
    fair = assess([media_leg(bitrate_down_kbps=100.0, video_limited_by=limit)])
    assert fair.verdict is Verdict.FAIR and fair.problems == (Problem.LOW_BITRATE,)
    poor = assess([media_leg(bitrate_down_kbps=30.0, video_limited_by=limit)])
    assert poor.verdict is Verdict.POOR and poor.problems == (Problem.LOW_BITRATE,)
    assert poor.figures["video_limited_by"] == limit


def test_a_busy_cpu_with_a_good_bitrate_is_no_problem() -> None:
    result = assess([media_leg(bitrate_down_kbps=400.0, video_limited_by=VideoLimit.CPU)])
    assert result.verdict is Verdict.GOOD and result.problems == ()


def test_a_missing_camera_is_named_and_not_blamed_on_the_network() -> None:
    result = assess([media_leg(echo_video_frames=0, frames_received=0)], Devices(camera=False))
    assert result.verdict is Verdict.POOR
    assert Problem.CAMERA_MISSING in result.problems
    assert Problem.CAMERA_NOT_SENDING not in result.problems and Problem.NO_MEDIA_BACK not in result.problems


def test_without_the_echos_report_the_devices_are_not_blamed() -> None:
    result = assess([media_leg(echo_video_frames=None, echo_audio_dbfs=None)])
    assert result.verdict is Verdict.GOOD and result.problems == ()
    assert result.figures["echo_video_frames"] is None and result.figures["black_percent"] is None


def test_a_relay_that_is_configured_but_unreachable_caps_the_verdict_at_fair() -> None:
    legs = [LegResult("relay_udp", connected=False), LegResult("relay_tcp", connected=False), media_leg()]
    result = assess(legs)
    assert result.verdict is Verdict.FAIR
    assert result.problems == (Problem.RELAY_UNREACHABLE,)
    assert result.paths == {"relay_udp": False, "relay_tcp": False, "direct": True}


def test_udp_blocked_when_only_the_tcp_relay_connects() -> None:
    legs = [
        LegResult("relay_udp", connected=False),
        media_leg(leg="relay_tcp"),
        LegResult("direct", connected=False),
    ]
    result = assess(legs)
    assert Problem.UDP_BLOCKED in result.problems
    assert result.verdict is Verdict.GOOD  # calls work, through the relay
    assert result.figures["path"] == "relay_tcp"


def test_direct_blocked_when_the_udp_relay_works() -> None:
    legs = [media_leg(leg="relay_udp"), LegResult("direct", connected=False)]
    assert assess(legs).problems == (Problem.DIRECT_BLOCKED,)


def test_nothing_connects() -> None:
    result = assess([LegResult("relay_udp", connected=False), LegResult("direct", connected=False)])
    assert result.verdict is Verdict.POOR
    assert Problem.NO_CONNECTION in result.problems and result.score is None and result.figures == {}


def test_call_summary_medians_and_text() -> None:
    samples = [
        CallSample(rtt, 4.0, loss, 1400.0, rate)
        for rtt, loss, rate in [(90, 0.2, 1350), (95, 0.3, 1400), (400, 0.4, 1450)]
    ]
    summary = summarize(samples)
    assert summary["samples"] == 3
    assert summary["rtt_ms_p50"] == 95 and summary["rtt_ms_p95"] == 400
    assert summary["loss_percent_p50"] == 0.3 and summary["bitrate_in_kbps_p50"] == 1400
    assert summary["text"] == "p50 round trip 95 ms, 0.3 % loss, 1.4 Mbit/s"
    assert summary["verdict"] == "good"


def test_call_summary_uses_dailys_bitrate_band() -> None:
    samples = [CallSample(50, 2, 0.1, 600, 600)] * 3
    assert summarize(samples)["verdict"] == "poor"
    assert summarize([CallSample(50, 2, 0.1, 900, 900)])["verdict"] == "fair"


def test_empty_summary() -> None:
    assert summarize([]) == {"samples": 0, "verdict": None}

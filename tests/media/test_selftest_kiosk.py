"""The kiosk's self-test in real Chromium against the real echo process (aiortc), on loopback
inside the media namespace: a clean network is good, black frames are flagged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN, CANTINE_A, token_for
from tests.media.conftest import SELFTEST_CONFIG, Kiosks, Session, booked_session, clean_network_problems

pytestmark = [pytest.mark.media, pytest.mark.browser]


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    """The media session with the self-test settings (the ``kiosks`` fixture opens its pages)."""
    async with booked_session(tmp_path, **SELFTEST_CONFIG) as booked:
        yield booked


async def test_clean_loopback_is_good(kiosks: Kiosks, session: Session) -> None:
    page = await kiosks.open_idle(session.paris_key)
    result = await page.evaluate("selfTest({trigger: 'kiosk_start'})")
    assert result["verdict"] == "good", result
    assert result["problems"] == clean_network_problems(result), result
    figures = result["figures"]
    assert figures["path"] == "direct"
    assert figures["frames_received"] >= 15  # 3 s of the echoed camera, decoded by Chromium
    assert figures["echo_video_frames"] >= 15 and figures["black_percent"] < 20
    assert figures["audio_dbfs"] > -50  # Chromium's fake microphone beeps
    assert 0 <= figures["rtt_ms"] < 100 and figures["loss_percent"] < 5
    assert "video_limited_by" in figures  # Chromium's outbound video says what held it back
    client = session.client
    body = await (await client.get("/api/v1/health/booths", headers=await token_for(client, ADMIN))).json()
    last = next(b for b in body["booths"] if b["booth_id"] == CANTINE_A)["last_selftest"]
    assert last["test_id"] == result["test_id"] and last["trigger"] == "kiosk_start"


async def test_black_camera_is_flagged(kiosks: Kiosks, session: Session) -> None:
    page = await kiosks.open_idle(session.paris_key)
    result = await page.evaluate("selfTest({black: true})")
    assert result["verdict"] == "poor", result
    assert "black_video" in result["problems"]
    assert result["figures"]["black_percent"] >= 80

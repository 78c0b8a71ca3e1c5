"""The self-test end to end without a browser: the headless agent, the real server, the real
``booth-echo`` process it starts (aiortc), all on loopback inside the media namespace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN, CANTINE_A, token_for
from tests.media.conftest import Session
from webrtc.agent import signalling_url
from webrtc.selftest_peer import run_selftest

pytestmark = [pytest.mark.media]


async def test_agent_selftest_through_the_echo_is_good_and_stored(
    selftest_session: Session, loopback_ice: None
) -> None:
    client = selftest_session.client
    url = signalling_url(selftest_session.origin)
    result: dict[str, Any] = await run_selftest(url, selftest_session.paris_key, trigger="manual")
    assert result["verdict"] == "good", result
    assert result["problems"] == []
    figures = result["figures"]
    assert figures["path"] == "direct"
    assert figures["echo_video_frames"] >= 20  # the echo saw the pattern (3 s at 30 frames/s)
    assert figures["frames_received"] >= 20  # and sent it back
    assert figures["black_percent"] == 0 and figures["audio_dbfs"] > -30  # the tone, not silence
    assert [p["leg"] for p in result["paths"]] == ["direct"]

    response = await client.get("/api/v1/health/booths", headers=await token_for(client, ADMIN))
    assert response.status == 200
    booths = {b["booth_id"]: b for b in (await response.json())["booths"]}
    last = booths[CANTINE_A]["last_selftest"]
    assert last["test_id"] == result["test_id"] and last["verdict"] == "good" and last["trigger"] == "manual"
    assert last["figures"]["echo_video_frames"] == figures["echo_video_frames"]

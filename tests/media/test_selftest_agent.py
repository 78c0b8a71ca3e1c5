"""The self-test end to end without a browser: the headless agent, the real server, the real
``booth-echo`` process it starts (aiortc), or one started on its own as on another host, all
on loopback inside the media namespace."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from booth_server.selftest import SELFTESTS
from tests.conftest import ADMIN, CANTINE_A, token_for
from tests.media.conftest import Session, booked_session
from tests.nodes import free_port
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


async def test_an_echo_on_another_host_is_reached_through_its_url_with_its_token(
    tmp_path: Path, loopback_ice: None
) -> None:
    """``booth-echo`` started on its own (as on a media host), the server given ``BOOTH_ECHO_URL``
    and ``BOOTH_ECHO_TOKEN``: the server starts no echo of its own and the test goes through
    that one, which refuses the same request without the token."""
    port, token = free_port(), secrets.token_urlsafe(24)
    echo = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("booth-echo")),
        *("--host", "127.0.0.1", "--port", str(port), "--ice-address", "127.0.0.1"),
        env={**os.environ, "BOOTH_ECHO_TOKEN": token},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url + "/health") as response:
                        if response.status == 200:
                            break
                assert time.monotonic() < deadline and echo.returncode is None, "booth-echo did not start"
                await asyncio.sleep(0.1)
            async with http.post(url + "/sessions", json={"sdp": "v=0\r\n"}) as response:
                assert response.status == 401
        async with booked_session(tmp_path, echo_url=url, echo_token=token, selftest_seconds=3) as session:
            result = await run_selftest(signalling_url(session.origin), session.sf_key, trigger="manual")
            tests = session.client.app[SELFTESTS]
            assert tests.echo.embedded is False and tests.echo.process is None
        assert result["verdict"] == "good", result
        assert result["figures"]["echo_video_frames"] >= 20  # the echo elsewhere saw the pattern
    finally:
        echo.terminate()
        assert await echo.wait() == 0  # booth-echo stops cleanly on SIGTERM

"""Booth-to-booth calls with real media, through the server's signalling endpoint.

Run inside a loopback-only network namespace by ``tests/server/test_media_namespace.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

import pytest

from tests.conftest import ADMIN, SF_A, token_for
from tests.media.conftest import Kiosks, Session, page_events, wait_for_frames
from webrtc.agent import BoothAgent

pytestmark = [pytest.mark.media, pytest.mark.browser]

FRAMES = 30


async def test_paris_and_san_francisco_booths_see_each_other(session: Session, kiosks: Kiosks) -> None:
    paris = await kiosks.open(session.paris_key)
    sf = await kiosks.open(session.sf_key)

    assert await wait_for_frames(paris, FRAMES) >= FRAMES
    assert await wait_for_frames(sf, FRAMES) >= FRAMES
    for page in (paris, sf):
        assert await page.evaluate("document.getElementById('remote').videoWidth") > 0
        assert await page.evaluate("window.mediaTest.state") == "in-call"
        assert page.page_errors == []
    # Roles come from the booking's booth order: Paris was booked first, so it is impolite.
    assert await paris.evaluate("[...booth.peers.values()][0].role") == "impolite"
    assert await sf.evaluate("[...booth.peers.values()][0].role") == "polite"
    assert await paris.evaluate("booth.bookingId") == session.booking_id
    for page in (paris, sf):
        assert await page.evaluate("window.mediaTest.streams") == 1
        assert [e["detail"]["code"] for e in await page_events(page, "error")] == []


async def test_call_survives_a_dropped_socket(session: Session, kiosks: Kiosks) -> None:
    paris = await kiosks.open(session.paris_key)
    sf = await kiosks.open(session.sf_key)
    await wait_for_frames(paris, FRAMES)
    await wait_for_frames(sf, FRAMES)

    # The kiosk's network blips: its socket drops, the media path does not.
    await paris.evaluate("booth._ws.close()")
    await sf.wait_for_function(
        "window.mediaTest.events.some(e => e.type === 'peer-status' && e.detail.state === 'back')",
        timeout=15000,
    )
    await paris.wait_for_function("window.mediaTest.state === 'in-call'", timeout=15000)
    before = [await page.evaluate("window.mediaTest.frames") for page in (paris, sf)]
    await wait_for_frames(paris, before[0] + FRAMES)
    await wait_for_frames(sf, before[1] + FRAMES)

    states = [e["detail"]["state"] for e in await page_events(paris, "state")]
    assert "reconnecting" in states
    sf_peer = [e["detail"]["state"] for e in await page_events(sf, "peer-status")]
    assert sf_peer[-2:] == ["reconnecting", "back"]
    for page in (paris, sf):
        # Resumed, not rejoined: the same peer connection carried on.
        assert await page.evaluate("window.mediaTest.streams") == 1
        assert page.page_errors == []


async def test_aiortc_agent_and_chromium_booth_exchange_video(
    session: Session, kiosks: Kiosks, loopback_ice: None
) -> None:
    agent = BoothAgent(session.origin, session.paris_key)
    running = asyncio.create_task(agent.run())
    try:
        sf = await kiosks.open(session.sf_key)
        await asyncio.wait_for(agent.wait_for_frames(FRAMES), 30)
        assert await wait_for_frames(sf, FRAMES) >= FRAMES
        assert await sf.evaluate("document.getElementById('remote').videoWidth") == 320
        link = next(iter(agent.links.values()))
        assert link.polite is False and link.connection_state == "connected"
        assert agent.frames_received >= FRAMES
        assert sf.page_errors == []
    finally:
        await agent.stop()
        await asyncio.wait_for(running, 10)


async def test_agent_command_line_echoes_a_chromium_booth(
    session: Session, kiosks: Kiosks, tmp_path: Any
) -> None:
    """``booth-agent --echo`` as the SF booth (key from a file); the Paris page sees its own camera."""
    key_file = tmp_path / "sf.key"
    key_file.write_text(session.sf_key + "\n")
    key_file.chmod(0o600)
    # The same aioice patch as the loopback_ice fixture, in the agent's own process.
    launcher = (
        "import sys, aioice.ice; aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ['127.0.0.1'];"
        "from webrtc.agent import main; sys.exit(main(sys.argv[1:]))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        launcher,
        "--server",
        session.origin,
        "--device-key-file",
        str(key_file),
        "--echo",
        "--log-level",
        "INFO",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "BOOTH_DEVICE_KEY": ""},
    )
    output = b""
    try:
        paris = await kiosks.open(session.paris_key)
        echoed = asyncio.ensure_future(wait_for_frames(paris, FRAMES))
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait([echoed, exited], return_when=asyncio.FIRST_COMPLETED)
        assert echoed.done(), "booth-agent exited before the page saw its echo"
        assert echoed.result() >= FRAMES
        assert await paris.evaluate("document.getElementById('remote').videoWidth") > 0
        # SIGTERM is how a service manager stops the agent: it leaves the room and exits 0.
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, output.decode()
        text = output.decode()
        assert "connection connected" in text
        assert session.sf_key not in text
        await paris.wait_for_function(
            "window.mediaTest.events.some(e => e.type === 'peer-status' && e.detail.state === 'left')",
            timeout=10000,
        )
        assert paris.page_errors == []
    finally:
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(Exception):
                output, _ = await process.communicate()
        print("booth-agent output:\n" + output.decode(errors="replace"))


async def test_a_revoked_key_stops_the_kiosk_without_a_retry_loop(session: Session, kiosks: Kiosks) -> None:
    """4001 is final (docs/protocol.md section 9): one fatal error, state closed, no reconnects."""
    sf = await kiosks.open(session.sf_key)
    await sf.wait_for_function("window.mediaTest.state === 'waiting'", timeout=15000)
    headers = await token_for(session.client, ADMIN)
    response = await session.client.delete(f"/api/v1/booths/{SF_A}/device-key", headers=headers)
    assert response.status == 204
    await sf.wait_for_function("window.mediaTest.state === 'closed'", timeout=15000)
    await asyncio.sleep(2.5)  # longer than the first reconnect backoff
    errors = [e["detail"] for e in await page_events(sf, "error")]
    assert [(e["code"], e["fatal"]) for e in errors if e["fatal"]] == [("unauthorized", True)]
    states = [e["detail"]["state"] for e in await page_events(sf, "state")]
    assert states.count("connecting") == 1 and states[-1] == "closed"
    assert await sf.evaluate("booth.bookingId") is None

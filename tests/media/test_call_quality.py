"""In-call quality from two real Chromium booths in a call: their ``call_stats`` (sent by
static/selftest.js as the kiosk does, here every 2 s instead of 10) reach ``/metrics`` and the
session's quality summary; a call forced through coturn says it was relayed."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADA, CANTINE_A, SF_A, token_for
from tests.media.conftest import Coturn, Kiosks, Session, booked_session, wait_for_frames

pytestmark = [pytest.mark.media, pytest.mark.browser]


async def test_two_kiosks_report_call_quality(kiosks: Kiosks, session: Session) -> None:
    paris = await kiosks.open(session.paris_key)
    sf = await kiosks.open(session.sf_key)
    await wait_for_frames(paris, 30)
    await wait_for_frames(sf, 30)
    for page in (paris, sf):
        await page.evaluate("startCallStats(2000)")
    client = session.client
    deadline = time.monotonic() + 30
    count = 0.0
    while count < 4:
        metrics = await (await client.get("/metrics")).text()
        found = re.search(r"^sebastian_call_rtt_seconds_count (\S+)$", metrics, re.MULTILINE)
        count = float(found.group(1)) if found else 0.0
        if time.monotonic() > deadline:
            raise AssertionError(f"only {count} call_stats after 30 s")
        await asyncio.sleep(0.5)
    assert 'sebastian_call_bitrate_bits_per_second_count{direction="in"}' in metrics
    response = await client.get(
        f"/api/v1/bookings/{session.booking_id}/quality", headers=await token_for(client, ADA)
    )
    body = await response.json()
    overall = body["overall"]
    assert overall["samples"] >= 4
    assert overall["rtt_ms_p50"] < 100 and overall["loss_percent_p50"] < 5
    assert overall["bitrate_in_kbps_p50"] > 50  # video is flowing
    assert re.fullmatch(r"p50 round trip [0-9.]+ ms, [0-9.]+ % loss, [0-9.]+ Mbit/s", overall["text"])
    assert {b["booth_id"] for b in body["booths"]} == {CANTINE_A, SF_A}
    assert all(b["relayed"] is False for b in body["booths"])


async def test_a_relay_only_call_goes_through_coturn(browser: Any, tmp_path: Path, coturn: Coturn) -> None:
    """Two booths forced to relay (``iceTransportPolicy: "relay"``) with the TURN urls and the
    REST credentials the server hands out in the call's ``ice_servers``: Debian's coturn, started
    from the shipped configuration, carries the call, and its quality says relayed."""
    async with booked_session(tmp_path, turn_urls=coturn.urls(), turn_secret=coturn.secret) as booked:
        kiosks = Kiosks(browser, booked)  # not the fixture: it would book its own session
        try:
            paris = await kiosks.open(booked.paris_key, relay_only=True)
            sf = await kiosks.open(booked.sf_key, relay_only=True)
            await wait_for_frames(paris, 30)
            await wait_for_frames(sf, 30)
            for page in (paris, sf):
                assert await page.evaluate(SELECTED_CANDIDATE_TYPES) == ["relay"]
                await page.evaluate("startCallStats(2000)")
            client = booked.client
            headers = await token_for(client, ADA)
            deadline = time.monotonic() + 30
            while True:
                response = await client.get(f"/api/v1/bookings/{booked.booking_id}/quality", headers=headers)
                booths = {b["booth_id"]: b for b in (await response.json())["booths"]}
                if len(booths) == 2 and all(b["samples"] >= 2 for b in booths.values()):
                    break
                assert time.monotonic() < deadline, f"no call_stats from both booths after 30 s: {booths}"
                await asyncio.sleep(0.5)
        finally:
            await kiosks.close()
    assert all(b["relayed"] is True for b in booths.values()), booths
    assert all(b["bitrate_in_kbps_p50"] > 50 for b in booths.values()), booths  # video flows
    turn_log = coturn.log.read_text(errors="replace")
    # Each booth allocated with the credentials of its own booth id (TURN REST: "expiry:booth").
    for booth in (CANTINE_A, SF_A):
        assert re.search(rf"username=<\d+:{booth}>, lifetime=\d+", turn_log), turn_log[-3000:]


#: The local candidate types of each connected peer's selected pair.
SELECTED_CANDIDATE_TYPES = """async () => {
  const types = [];
  for (const peer of window.booth.peers.values()) {
    if (!peer.pc) continue;
    const stats = await peer.pc.getStats();
    stats.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const pair = stats.get(s.selectedCandidatePairId);
      types.push(stats.get(pair.localCandidateId).candidateType);
    });
  }
  return types;
}"""

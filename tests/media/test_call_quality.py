"""In-call quality from two real Chromium booths in a call: their ``call_stats`` (sent by
static/selftest.js as the kiosk does, here every 2 s instead of 10) reach ``/metrics`` and the
session's quality summary."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from tests.conftest import ADA, CANTINE_A, SF_A, token_for
from tests.media.conftest import Kiosks, Session, wait_for_frames

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

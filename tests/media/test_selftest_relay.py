"""Self-tests through a real TURN server: Debian's coturn with ``deploy/coturn/turnserver.conf``,
real Chromium forced to relay-only legs (``iceTransportPolicy: "relay"``), and the real echo.

- coturn up: every leg connects, the media goes through the UDP relay, "good".
- coturn with TLS on 443 (a certificate made in the test): the ``relay_tls`` leg connects in a
  browser that trusts the certificate, and fails in one that does not (Chromium checks a TURN
  server's certificate as it does a web server's).
- coturn stopped: the relay legs fail, "relay unreachable" in the booth's words.
- a lossy, slow path between the browser and coturn (a user-space UDP relay in the test, since
  ``tc netem`` is not available): "poor", for the round trip and the loss.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.media.conftest import (
    SELFTEST_CONFIG,
    Coturn,
    Kiosks,
    Session,
    booked_session,
    clean_network_problems,
    impaired_relay,
    launch_chromium,
    start_coturn,
)

pytestmark = [pytest.mark.media, pytest.mark.browser]


@pytest.fixture
async def session(tmp_path: Path, coturn: Coturn) -> AsyncIterator[Session]:
    """The media session with the self-test settings and coturn's UDP and TCP urls."""
    async with booked_session(
        tmp_path, **SELFTEST_CONFIG, turn_urls=coturn.urls(), turn_secret=coturn.secret
    ) as booked:
        yield booked


def paths(result: dict[str, Any]) -> dict[str, bool]:
    return {p["leg"]: p["works"] for p in result["paths"]}


async def test_relay_only_legs_go_through_coturn(kiosks: Kiosks, session: Session) -> None:
    page = await kiosks.open_idle(session.paris_key)
    result = await page.evaluate("selfTest()")
    assert paths(result) == {"relay_udp": True, "relay_tcp": True, "direct": True}, result
    assert result["verdict"] == "good", result
    assert result["figures"]["path"] == "relay_udp"
    assert result["figures"]["frames_received"] >= 15
    assert result["problems"] == clean_network_problems(result), result


async def test_coturn_stopped_is_relay_unreachable(kiosks: Kiosks, session: Session, coturn: Coturn) -> None:
    await coturn.stop()
    page = await kiosks.open_idle(session.paris_key)
    result = await page.evaluate("selfTest()")
    assert paths(result) == {"relay_udp": False, "relay_tcp": False, "direct": True}, result
    assert "relay_unreachable" in result["problems"]
    assert result["verdict"] == "fair"  # calls still work directly, but a strict network would fail
    assert result["figures"]["path"] == "direct"
    words = await page.evaluate(
        "r => import('/static/selftest.js').then(m => [m.describeResult(r, 'en'), m.describeResult(r, 'fr')])",
        result,
    )
    assert "Relay unreachable: calls may fail on strict networks." in words[0]["lines"]
    assert "Relais injoignable : les appels peuvent échouer sur les réseaux stricts." in words[1]["lines"]


async def test_turn_over_tls_on_443_goes_through_coturn_when_its_certificate_is_trusted(
    browser: Any, tmp_path: Path
) -> None:
    async with (
        start_coturn(tmp_path, tls=True) as turn,
        booked_session(
            tmp_path, **SELFTEST_CONFIG, turn_urls=(*turn.urls(), turn.tls_url), turn_secret=turn.secret
        ) as booked,
    ):
        assert turn.tls_pin is not None
        async with launch_chromium(f"--ignore-certificate-errors-spki-list={turn.tls_pin}") as trusting:
            kiosks = Kiosks(trusting, booked)
            try:
                page = await kiosks.open_idle(booked.paris_key)
                trusted = await page.evaluate("selfTest()")
            finally:
                await kiosks.close()
        kiosks = Kiosks(browser, booked)  # the run's browser: the test's CA means nothing to it
        try:
            page = await kiosks.open_idle(booked.paris_key)
            untrusted = await page.evaluate("selfTest()")
        finally:
            await kiosks.close()
        turn_log = turn.log.read_text(errors="replace")
    everything = {"relay_udp": True, "relay_tcp": True, "relay_tls": True, "direct": True}
    assert paths(trusted) == everything, trusted
    assert trusted["verdict"] == "good" and trusted["problems"] == clean_network_problems(trusted), trusted
    assert trusted["figures"]["path"] == "relay_udp"
    # coturn allocated over TLS on 443 with the test's TURN REST credentials.
    assert re.search(r"username=<\d+:\d+>, lifetime=\d+, cipher=\S+, method=TLS", turn_log), turn_log[-3000:]
    assert "local 127.0.0.1:443" in turn_log
    assert paths(untrusted) == {**everything, "relay_tls": False}, untrusted
    assert untrusted["verdict"] == "good"  # UDP and TCP relays work: calls have their fallback


@pytest.fixture
async def impaired_session(tmp_path: Path, coturn: Coturn) -> AsyncIterator[tuple[Session, Any]]:
    # 350 ms each way and 12 % of packets dropped each way, between the browser and coturn.
    async with impaired_relay(coturn.port, delay=0.35, drop=0.12) as (port, relay):
        async with booked_session(
            tmp_path, **SELFTEST_CONFIG, turn_urls=coturn.urls(port)[:1], turn_secret=coturn.secret
        ) as booked:
            yield booked, relay


async def test_an_impaired_path_is_poor(browser: Any, impaired_session: tuple[Session, Any]) -> None:
    booked, relay = impaired_session
    kiosks = Kiosks(browser, booked)  # not the fixture: it would book its own session
    try:
        page = await kiosks.open_idle(booked.paris_key)
        result = await page.evaluate("selfTest()")
    finally:
        await kiosks.close()
    assert paths(result)["relay_udp"] is True, result
    assert result["figures"]["path"] == "relay_udp"
    assert result["verdict"] == "poor", result
    assert "high_round_trip" in result["problems"], result
    assert result["figures"]["rtt_ms"] >= 600
    assert result["score"] < 3.0
    assert relay.dropped > 0 and relay.relayed > 100

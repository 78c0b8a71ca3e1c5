"""The clients' numbers are the contract's: every numeric constant of ``static/signalling.js``
(the kiosk) and the headless agent's reconnection rules against ``webrtc/limits.py`` and
``webrtc/errors.py``."""

from __future__ import annotations

import re
from pathlib import Path

from webrtc import agent, limits
from webrtc.errors import CloseCode

ROOT = Path(__file__).resolve().parents[2]
KIOSK = (ROOT / "static" / "signalling.js").read_text(encoding="utf-8")

#: Each numeric constant of the kiosk, the limits.py name it must equal, and the unit factor.
KIOSK_CONSTANTS = {
    "PROTOCOL_VERSION": ("PROTOCOL_VERSION", 1),
    "BACKOFF_FIRST_MS": ("BACKOFF_FIRST", 1000),
    "BACKOFF_MAX_MS": ("BACKOFF_MAX", 1000),
    "GOING_AWAY_JITTER_MS": ("GOING_AWAY_JITTER", 1000),
    "ICE_CHECK_MS": ("ICE_RESTART_AFTER", 1000),
    "TOO_EARLY_RETRY_MS": ("TOO_EARLY_RETRY", 1000),
    "HEARTBEAT_MS": ("HEARTBEAT_INTERVAL", 1000),
    "IDLE_TIMEOUT_MS": ("IDLE_TIMEOUT", 1000),
    "SHUTDOWN_RETRY_AFTER_MS": ("SHUTDOWN_RETRY_AFTER", 1000),
}


def kiosk_numbers() -> dict[str, float]:
    """Every top-level ``const NAME = <number>;`` of the kiosk module."""
    found = re.findall(r"^const ([A-Z][A-Z0-9_]*) = ([0-9][0-9_.]*);", KIOSK, flags=re.MULTILINE)
    return {name: float(value.replace("_", "")) for name, value in found}


def test_every_kiosk_number_is_a_contract_number() -> None:
    numbers = kiosk_numbers()
    assert set(numbers) == set(KIOSK_CONSTANTS), "a kiosk constant without its limits.py counterpart"
    for name, value in numbers.items():
        limit, factor = KIOSK_CONSTANTS[name]
        assert value == getattr(limits, limit) * factor, (
            f"{name} = {value}, limits.{limit} = {getattr(limits, limit)}"
        )


def test_the_kiosk_starts_with_the_contract_timings_until_welcome() -> None:
    constructor = KIOSK[KIOSK.index("constructor(") :]
    assert "this._heartbeatMs = HEARTBEAT_MS;" in constructor
    assert "this._idleMs = IDLE_TIMEOUT_MS;" in constructor
    assert "this._backoffMs = BACKOFF_FIRST_MS;" in constructor


def test_final_closes_are_the_same_close_codes_in_both_clients() -> None:
    entries = re.search(r"const FINAL_CLOSES = new Map\(\[(.*?)\]\);", KIOSK, flags=re.DOTALL)
    assert entries is not None
    kiosk = {int(code): name for code, name in re.findall(r"\[(\d+), '([a-z_]+)'\]", entries.group(1))}
    assert kiosk == agent.FINAL_CLOSES
    for code, name in kiosk.items():
        assert CloseCode(code).name.lower() == name


def test_the_agent_reads_the_contract() -> None:
    source = (ROOT / "webrtc" / "agent.py").read_text(encoding="utf-8")
    for name in ("BACKOFF_FIRST", "BACKOFF_MAX", "GOING_AWAY_JITTER", "TOO_EARLY_RETRY", "MAX_MESSAGE_BYTES"):
        assert re.search(rf"^    {name},$", source, flags=re.MULTILINE), f"agent.py does not import {name}"
        assert not re.search(rf"^{name}\s*=", source, flags=re.MULTILINE), f"agent.py defines its own {name}"
    assert agent.BACKOFF_MAX == limits.BACKOFF_MAX and agent.GOING_AWAY_JITTER == limits.GOING_AWAY_JITTER

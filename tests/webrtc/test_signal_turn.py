"""TURN REST credentials as coturn's use-auth-secret checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from webrtc.turn import TurnConfig, credentials, expiry_of, ice_servers

SLOT_END = datetime(2025, 6, 12, 16, 0, tzinfo=UTC)
SECRET = "north-pole-secret"


def test_known_vector() -> None:
    # Computed independently: printf '1749744900:1' | openssl dgst -sha1 -hmac north-pole-secret -binary | base64
    username, password = credentials(SECRET, 1, SLOT_END + timedelta(minutes=15))
    assert (username, password) == ("1749744900:1", "z1cQkZtFEcn9OeXmCY+bpkM7LHg=")


def test_password_is_base64_hmac_sha1_of_the_username() -> None:
    username, password = credentials(SECRET, 7, SLOT_END)
    expected = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(password) == expected
    assert username == f"{int(SLOT_END.timestamp())}:7"


def test_ice_servers_valid_for_the_slot_plus_margin() -> None:
    config = TurnConfig.for_host("turn.example.org", SECRET)
    stun, turn = ice_servers(config, 7, SLOT_END)
    assert stun == {"urls": ["stun:turn.example.org:3478"]}
    assert turn["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turn:turn.example.org:3478?transport=tcp",
        "turns:turn.example.org:443?transport=tcp",
    ]
    assert expiry_of(turn["username"]) == SLOT_END + config.margin == SLOT_END + timedelta(minutes=15)
    assert turn["username"].endswith(":7")
    digest = hmac.new(SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


def test_without_secret_only_stun() -> None:
    assert ice_servers(TurnConfig.for_host("turn.example.org", None), 7, SLOT_END) == [
        {"urls": ["stun:turn.example.org:3478"]}
    ]
    assert ice_servers(TurnConfig(), 7, SLOT_END) == []


def test_custom_urls_and_margin() -> None:
    config = TurnConfig(turn_urls=("turns:edge.example.org:443",), secret="x", margin=timedelta(hours=1))
    (turn,) = ice_servers(config, 3, SLOT_END)
    assert turn["urls"] == ["turns:edge.example.org:443"]
    assert expiry_of(turn["username"]) == SLOT_END + timedelta(hours=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"turn_urls": ("http://turn.example.org",), "secret": "x"},
        {"turn_urls": ("turn:turn.example.org",)},  # TURN without the shared secret
    ],
)
def test_bad_config(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TurnConfig(**kwargs)  # type: ignore[arg-type]


def test_naive_expiry_refused() -> None:
    with pytest.raises(ValueError):
        credentials(SECRET, 1, datetime(2025, 6, 12, 16, 0))

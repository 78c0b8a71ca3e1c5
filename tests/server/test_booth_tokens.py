"""A stolen database is not a stolen booth: session tokens need the server secret and die early.

Whoever reads the database has each device key's stored hash; before the server secret, that was
the MAC key of a booth's session tokens, so they could mint one that lasted ten years.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from booth_server.keys import DATABASE, SERVER_SECRET
from tests.conftest import CANTINE_A
from tests.server.signalling_support import Session, booked_session, instant


async def _hello_with(s: Session, token: str) -> tuple[str, int | None]:
    socket = await s.socket()
    await socket.send_json({"type": "hello", "version": 1, "session_token": token})
    code = (await socket.receive_json())["code"]
    await socket.receive()
    return code, socket.close_code


async def _stored_key(s: Session, booth_id: int) -> tuple[int, str]:
    async with s.client.app[DATABASE].read() as session:
        row = (
            await session.execute(
                text("SELECT id, key_hash FROM device_keys WHERE booth_id = :b AND revoked_at IS NULL"),
                {"b": booth_id},
            )
        ).one()
    return int(row[0]), str(row[1])


def _sign(mac_key: bytes, message: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(mac_key, message, hashlib.sha256).digest()).rstrip(b"=").decode()


async def test_a_token_minted_from_the_database_alone_is_refused(make_client, sqlite_url, clock) -> None:
    s = await booked_session(make_client, sqlite_url, clock)
    key_id, key_hash = await _stored_key(s, CANTINE_A)
    ten_years = int((instant("2027-03-16T15:56:00Z") + timedelta(days=3650)).timestamp())
    payload = f"{CANTINE_A}.{key_id}.{ten_years}"
    # The former scheme: the stored hash as the MAC key.
    assert await _hello_with(s, f"st_{payload}.{_sign(key_hash.encode(), payload.encode())}") == (
        "unauthorized",
        4001,
    )


async def test_a_token_longer_lived_than_the_server_issues_is_refused(make_client, sqlite_url, clock) -> None:
    """Even signed with the server secret: the maximum lifetime is checked when the token is used."""
    s = await booked_session(make_client, sqlite_url, clock)
    key_id, key_hash = await _stored_key(s, CANTINE_A)
    secret: bytes = s.client.app[SERVER_SECRET]
    for lifetime, expected in ((timedelta(hours=1), None), (timedelta(hours=1, minutes=1), "unauthorized")):
        expiry = int((instant("2027-03-16T15:56:00Z") + lifetime).timestamp())
        payload = f"{CANTINE_A}.{key_id}.{expiry}"
        message = "\0".join(("booth-session", payload, key_hash)).encode()
        token = f"st_{payload}.{_sign(secret, message)}"
        if expected is None:
            booth = await s.connect(CANTINE_A, hello={"session_token": token})
            assert booth.booth_id == CANTINE_A
            await booth.ws.close()
        else:
            assert await _hello_with(s, token) == (expected, 4001)


async def test_a_new_server_secret_or_device_key_invalidates_tokens(make_client, tmp_path, clock) -> None:
    database = f"sqlite:///{tmp_path / 'booths.db'}"
    s = await booked_session(make_client, database, clock, secret_file=str(tmp_path / "one.secret"))
    token = (await s.connect(CANTINE_A)).welcome["session_token"]
    assert (await s.connect(CANTINE_A, hello={"session_token": token})).booth_id == CANTINE_A
    # Another node reading the same database with another secret does not take the token.
    other: Any = await make_client(database, demo=False, secret_file=str(tmp_path / "two.secret"))
    other_session = Session(other, clock, s.booking_id, s.keys, s.ada, s.staff_paris, s.staff_sf)
    assert await _hello_with(other_session, token) == ("unauthorized", 4001)
    # Rotating the device key kills tokens made with the old one.
    rotated = await s.client.post(f"/api/v1/booths/{CANTINE_A}/device-key", headers=s.staff_paris)
    assert rotated.status == 201
    assert await _hello_with(s, token) == ("unauthorized", 4001)

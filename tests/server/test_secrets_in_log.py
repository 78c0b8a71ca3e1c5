"""A whole server log, after a run that used every kind of secret, holds none of them.

The server runs as ``booth-server`` does in production (its own process, its logging set up by
the CLI, DEBUG level so that the most is written), and the run includes a failing feed poll: the
error path used to log the request path, feed token included.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import ADMIN, DEMO_PASSWORD, STAFF_PARIS
from tests.processes import wait_until_healthy
from tests.server.test_cli import _free_port, clean_env

TURN_SECRET = "coturn-static-auth-secret-for-the-log-test"


async def _token(http: aiohttp.ClientSession, base: str, email: str, password: str) -> str:
    async with http.post(f"{base}/api/v1/tokens", json={"email": email, "password": password}) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["token"])


async def _exercise(base: str, db: Path) -> dict[str, str]:
    """Use every secret the server knows; return them by name."""
    secrets: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:
        password = "a password of the log test"
        secrets["password"] = password
        account = {"email": "logged@example.org", "password": password, "name": "Log Test"}
        async with http.post(f"{base}/api/v1/accounts", json=account) as response:
            assert response.status == 201
        secrets["api token"] = token = await _token(http, base, "logged@example.org", password)
        async with http.post(f"{base}/api/v1/tokens", json={**account, "password": password + "!"}) as r:
            assert r.status == 401  # a wrong password is logged nowhere either
        secrets["wrong password"] = password + "!"
        bearer = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{base}/api/v1/me", headers=bearer, params={"token": token}) as response:
            assert response.status == 200
        async with http.post(
            f"{base}/api/v1/session", json={"email": "logged@example.org", "password": password}
        ) as response:
            assert response.status == 201
            secrets["csrf token"] = (await response.json())["csrf_token"]
            secrets["session cookie"] = response.cookies["sebastian_session"].value
        async with http.post(f"{base}/api/v1/feeds", headers=bearer, json={"kind": "organizer"}) as response:
            feed = await response.json()
            secrets["feed token"] = feed["token"]
        staff = {"Authorization": f"Bearer {await _token(http, base, STAFF_PARIS, DEMO_PASSWORD)}"}
        secrets["staff token"] = staff["Authorization"].split()[1]
        async with http.post(f"{base}/api/v1/booths/1/device-key", headers=staff) as response:
            secrets["device key"] = device_key = (await response.json())["device_key"]
        async with http.get(f"{base}/api/v1/kiosk", headers={"Authorization": f"Device {device_key}"}) as r:
            assert r.status == 200
        async with http.ws_connect(f"{base}/api/v1/signalling", origin=base) as ws:
            await ws.send_json({"type": "hello", "version": 1, "device_key": device_key})
            welcome = await ws.receive_json()
            assert welcome["type"] == "welcome", welcome
            secrets["session token"] = welcome["session_token"]
            secrets["resume token"] = welcome["resume_token"]
            secrets["turn credential"] = next(
                s["credential"] for s in welcome["ice_servers"] if "credential" in s
            )
        async with http.ws_connect(f"{base}/api/v1/signalling", origin=base) as ws:
            await ws.send_json({"type": "hello", "version": 1, "session_token": secrets["session token"]})
            assert (await ws.receive_json())["type"] == "welcome"
        admin = {"Authorization": f"Bearer {await _token(http, base, ADMIN, DEMO_PASSWORD)}"}
        secrets["admin token"] = admin["Authorization"].split()[1]
        feed_path = "/" + feed["https_url"].split("://", 1)[1].split("/", 1)[1]
        async with http.get(f"{base}{feed_path}") as response:
            assert response.status == 200
        # The feed table disappears under the server: the next poll fails on the error path.
        with sqlite3.connect(db) as conn:
            conn.execute("ALTER TABLE feed_tokens RENAME TO feed_tokens_gone")
        async with http.get(f"{base}{feed_path}") as response:
            assert response.status == 500
        with sqlite3.connect(db) as conn:
            conn.execute("ALTER TABLE feed_tokens_gone RENAME TO feed_tokens")
    return secrets


async def test_the_server_log_holds_no_secret(tmp_path: Path) -> None:
    port, db = _free_port(), tmp_path / "log.db"
    secret_file, log_file = tmp_path / "server.secret", tmp_path / "server.log"
    # A file, not a pipe: at DEBUG the log outgrows a pipe's buffer and would block the server.
    log_handle = log_file.open("w")
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "booth_server.cli", "--demo", "--port", str(port), "--log-level", "DEBUG"],
        *["--database", f"sqlite:///{db}", "--secret-file", str(secret_file)],
        stdout=log_handle,
        stderr=subprocess.STDOUT,
        env=clean_env(
            {
                "BOOTH_TURN_URLS": "turn:127.0.0.1:3478",
                "BOOTH_TURN_SECRET": TURN_SECRET,
                "BOOTH_CLOCK_START": "2027-03-16T15:00:00Z",
            }
        ),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base, server)
        secrets = await _exercise(base, db)
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)
        log_handle.close()
    log = log_file.read_text(encoding="utf-8", errors="replace")
    secrets["server secret"] = secret_file.read_text().strip()
    secrets["turn secret"] = TURN_SECRET
    assert "unhandled error on GET /feeds/organizer/[redacted].ics" in log, log[-3000:]
    assert "Traceback" in log  # the failure is logged in full, only without its secrets
    assert "Booth device keys and calendar feed tokens" in log  # prose about secrets stays readable
    leaked = [name for name, value in secrets.items() if value in log]
    assert leaked == [], leaked
    print(f"server log: {len(log.splitlines())} lines, {len(secrets)} secrets, none found")

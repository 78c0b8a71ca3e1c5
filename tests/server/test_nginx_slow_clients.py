"""The shipped nginx fragment against slow clients, with Debian's nginx in front of the real app.

A minimal nginx.conf written by the test ``include``s ``deploy/nginx/slow-clients.conf`` as it is
shipped. Slowloris clients (a header line every 2 s, forever) are cut within the fragment's
``client_header_timeout``; meanwhile ``/healthz`` answers through the same nginx, and a quiet
booth socket on ``/api/v1/signalling`` outlives that timeout and ``client_body_timeout``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import missing_service
from tests.processes import wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
FRAGMENT = ROOT / "deploy/nginx/slow-clients.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HEADER_TIMEOUT = 10.0  # client_header_timeout in the fragment
SLOW_CLIENTS = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(prefix: Path, port: int, app_port: int) -> str:
    upstream = f"http://127.0.0.1:{app_port}"
    temp = " ".join(
        f"{name}_temp_path {prefix / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temp}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        include {FRAGMENT};
        location / {{
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_pass {upstream};
        }}
        location /api/v1/signalling {{
            proxy_read_timeout 75s;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_pass {upstream};
        }}
    }}
}}
"""


def _write_config(prefix: Path, port: int, app_port: int) -> Path:
    if not Path(NGINX).exists():
        missing_service("nginx", f"{NGINX} is missing (apt-get install nginx)")
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(_config(prefix, port, app_port))
    return conf


@pytest.fixture
async def nginx_in_front(make_client: Any, sqlite_url: str, tmp_path: Path) -> AsyncIterator[str]:
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    # The booth socket may stay quiet before hello for longer than the fragment's timeouts.
    client = await make_client(sqlite_url, public_origin=origin, signal_auth_timeout=60.0)
    conf = _write_config(tmp_path / "nginx", port, client.port)
    nginx = await asyncio.create_subprocess_exec(NGINX, "-p", str(conf.parent), "-c", str(conf))
    try:
        await wait_until_healthy(origin, nginx, 15)
        yield origin
    finally:
        nginx.terminate()
        await asyncio.wait_for(nginx.wait(), 15)


async def _slowloris(port: int, cut: list[float], started: float) -> None:
    """Send a request head one line every 2 s, never ending it; note when nginx cuts us."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        line = 0
        while True:
            try:
                data = await asyncio.wait_for(reader.read(1024), 2.0)
            except TimeoutError:
                line += 1
                writer.write(b"X-Slow-%d: still here\r\n" % line)
                await writer.drain()
                continue
            if not data:  # closed by nginx (possibly after a 408 it does not send)
                break
        cut.append(time.monotonic() - started)
    except (ConnectionResetError, BrokenPipeError):
        cut.append(time.monotonic() - started)
    finally:
        writer.close()


async def test_slowloris_is_cut_and_health_still_answers(nginx_in_front: str) -> None:
    origin = nginx_in_front
    port = int(origin.rsplit(":", 1)[1])
    async with aiohttp.ClientSession() as http:
        booth = await http.ws_connect(f"{origin}/api/v1/signalling", origin=origin)
        started = quiet_since = time.monotonic()
        cut: list[float] = []
        slow = [asyncio.create_task(_slowloris(port, cut, started)) for _ in range(SLOW_CLIENTS)]
        await asyncio.sleep(1)  # the slow clients have connected and sent part of their heads
        healthy = 0
        for _ in range(5):
            async with http.get(f"{origin}/healthz") as response:
                healthy += response.status == 200
        done, pending = await asyncio.wait(slow, timeout=HEADER_TIMEOUT + 8)
        for task in pending:
            task.cancel()
        # The booth socket, quiet all along, outlived every timeout of the fragment but keep-alive.
        quiet = time.monotonic() - quiet_since
        await booth.send_json({"type": "hello", "version": 1, "device_key": "dk_not-a-real-key-at-all"})
        answer = await booth.receive_json(timeout=10)
        await booth.close()
    print(
        f"nginx: {len(cut)}/{SLOW_CLIENTS} slowloris clients cut, the last after {max(cut, default=0):.1f} s "
        f"(client_header_timeout {HEADER_TIMEOUT:g} s); /healthz {healthy}/5 while they were open"
    )
    assert healthy == 5
    assert not pending and len(cut) == SLOW_CLIENTS
    assert max(cut) < HEADER_TIMEOUT + 8
    assert quiet > HEADER_TIMEOUT
    assert answer["type"] == "error" and answer["code"] == "unauthorized", answer

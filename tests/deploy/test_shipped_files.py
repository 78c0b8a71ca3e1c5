"""The systemd unit, the Redis settings and the example nginx site, checked by the programs that
read them: systemd's own verifier, a real redis-server started with the shipped file."""

from __future__ import annotations

import asyncio
import configparser
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import OutOfMemoryError

from booth_server.cli import SHUTDOWN_TIMEOUT
from booth_server.config import Config
from tests.conftest import missing_service
from tests.deploy.nginx import NGINX, SHIPPED, free_port

DEPLOY = SHIPPED.parent
UNIT = DEPLOY / "systemd" / "booth-server.service"
REDIS_CONF = DEPLOY / "redis" / "redis.conf"


def unit_service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, value
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_systemd_accepts_the_unit() -> None:
    analyze = shutil.which("systemd-analyze") or ""
    if not analyze:
        missing_service("systemd-analyze", "the systemd package is not installed")
    result = subprocess.run([analyze, "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    executable = unit_service()["ExecStart"].split()[0]
    # The binary is where the deploy guide installs it, not on this machine: the one complaint
    # allowed. Any unknown key or unparsable value would be reported here too.
    complaints = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and f"Command {executable} is not executable" not in line
    ]
    assert not complaints, result.stderr


def test_the_unit_outlasts_the_drain_and_holds_many_sockets() -> None:
    service = unit_service()
    drain_and_close = Config().drain_seconds + SHUTDOWN_TIMEOUT
    assert seconds(service["TimeoutStopSec"]) > drain_and_close
    assert service["KillSignal"] == "SIGTERM"
    assert service["LimitNOFILE"] == "65536"
    assert service["Restart"] == "on-failure"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["WorkingDirectory"] in service["ReadWritePaths"].split()
    assert service["ExecStart"].endswith("booth-server serve")
    assert service["User"] not in ("root", "")


@pytest.fixture
async def shipped_redis(tmp_path: Path) -> AsyncIterator[aioredis.Redis]:
    """redis-server with the shipped file, on a free port, its files in ``tmp_path``."""
    binary = shutil.which("redis-server") or ""
    if not binary:
        missing_service("redis-server", "apt-get install redis-server")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        str(REDIS_CONF),
        "--port",
        str(port),
        "--dir",
        str(tmp_path),
        "--daemonize",
        "no",
        "--logfile",
        str(tmp_path / "redis.log"),
    )
    client = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.returncode is None, "redis-server refused the shipped configuration"
            try:
                await client.ping()
                break
            except (aioredis.ConnectionError, OSError):
                assert time.monotonic() < deadline, "redis-server did not start"
                await asyncio.sleep(0.05)
        yield client
    finally:
        await client.aclose()
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)


async def test_redis_keeps_the_streams_and_never_evicts(shipped_redis: aioredis.Redis) -> None:
    settings = {}
    for name in ("appendonly", "appendfsync", "maxmemory-policy", "protected-mode"):
        settings.update(await shipped_redis.config_get(name))
    assert settings == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory-policy": "noeviction",
        "protected-mode": "yes",
    }
    # Full memory refuses writes instead of dropping a stream.
    await shipped_redis.xadd("booth:1:mailbox", {"frame": "x" * 1024})
    await shipped_redis.config_set("maxmemory", "1")
    with pytest.raises(OutOfMemoryError):
        await shipped_redis.xadd("booth:1:mailbox", {"frame": "y"})
    assert await shipped_redis.xlen("booth:1:mailbox") == 1


def test_the_example_site_includes_the_shipped_parts() -> None:
    site = (SHIPPED / "sebastian-site.conf").read_text()
    includes = re.findall(r"^\s*include sebastian/([\w.-]+);", site, flags=re.MULTILINE)
    assert includes == [
        "upstream.conf",
        "sebastian-http.conf",
        "slow-clients.conf",
        "sebastian-locations.conf",
    ]
    assert re.search(r"^\s*listen 443 ssl", site, flags=re.MULTILINE)
    assert re.search(r"^\s*access_log \S+ sebastian;", site, flags=re.MULTILINE)
    main = (SHIPPED / "nginx.conf").read_text()
    assert re.search(r"^worker_shutdown_timeout \d+s;", main, flags=re.MULTILINE)


def test_nginx_accepts_the_example_main_configuration(tmp_path: Path) -> None:
    """As Debian's nginx would load it, with the machine's own mime.types and sites."""
    if not NGINX.exists():
        missing_service("nginx", f"{NGINX} not found (apt-get install nginx)")
    result = subprocess.run(
        [str(NGINX), "-t", "-q", "-e", str(tmp_path / "error.log")] + ["-c", str(SHIPPED / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

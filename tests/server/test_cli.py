"""The ``booth-server`` command: subcommands, flags, environment, and clear errors."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from booth_server.config import Config, ConfigError

ROOT = Path(__file__).resolve().parents[2]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without BOOTH_* settings, importing this source tree from any directory;
    a server started with it stops at once on SIGTERM (no drain, unless ``extra`` sets one)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BOOTH_")}
    return environ | {"PYTHONPATH": str(ROOT), "BOOTH_DRAIN_SECONDS": "0"} | (extra or {})


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "booth_server.cli", *args],
        capture_output=True,
        text=True,
        env=clean_env(env),
        cwd=cwd,
        timeout=60,
    )


def test_migrate_then_demo_twice_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert run("migrate", "--database", f"sqlite:///{db}").returncode == 0
    for _ in range(2):
        result = run("demo", "--database", f"sqlite:///{db}")
        assert result.returncode == 0, result.stderr
        assert "ada@demo.sebastian.example" in result.stdout
    with sqlite3.connect(db) as conn:
        counts = [
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("venues", "booths", "accounts")
        ]
    assert counts == [2, 4, 4]


def test_default_database_is_sebastian_db_in_the_working_directory(tmp_path: Path) -> None:
    assert run("migrate", cwd=tmp_path).returncode == 0
    assert (tmp_path / "sebastian.db").exists()


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--port", "http"], {}, "--port"),
        (["--clock-start", "2027-03-16T16:00"], {}, "UTC offset"),
        (["--clock-start", "soon"], {}, "--clock-start"),
        ([], {"BOOTH_PORT": "eighty"}, "BOOTH_PORT"),
        ([], {"BOOTH_DEMO": "perhaps"}, "BOOTH_DEMO"),
        ([], {"BOOTH_CLOCK_START": "yesterday"}, "BOOTH_CLOCK_START"),
        (["migrate", "--database", "mysql://db/x"], {}, "unsupported database"),
        (["frobnicate"], {}, "invalid choice"),
        (["--redis", "redis://127.0.0.1:6379/0"], {}, "SQLite belongs to one process"),
        ([], {"BOOTH_REDIS_URL": "http://127.0.0.1:6379"}, "BOOTH_REDIS_URL"),
    ],
)
def test_bad_flags_and_variables_are_named(args, env, needle, tmp_path: Path) -> None:
    result = run(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_config_precedence() -> None:
    env = {"BOOTH_PORT": "9000", "BOOTH_HOST": "0.0.0.0", "BOOTH_CLOCK_START": "2027-03-16T15:55:00Z"}
    config = Config.load({"port": 9100, "host": None}, env)
    assert (config.port, config.host) == (9100, "0.0.0.0")
    assert config.clock_start is not None and config.clock_start.isoformat() == "2027-03-16T15:55:00+00:00"
    assert config.origin == "http://127.0.0.1:9100"
    with pytest.raises(ConfigError, match="BOOTH_LOG_LEVEL"):
        Config.load({}, {"BOOTH_LOG_LEVEL": "LOUD"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_demo_and_shifted_clock(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "booth_server.cli",
            "--demo",
            "--port",
            str(port),
            "--database",
            f"sqlite:///{tmp_path / 's.db'}",
            "--clock-start",
            "2027-03-14T09:59:00Z",
            "--drain-seconds",
            "0",  # tests/server/test_lifecycle.py tests the drain
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/booths", timeout=2) as response:
                    assert len(__import__("json").load(response)["booths"]) == 4
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "CLOCK SHIFTED" in output and "2027-03-14T09:59:00+00:00" in output
    assert "sister-cities-demo" in output  # demo credentials are printed for the operator
    assert "Traceback" not in output


def test_an_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    """BOOTH_HTTP_KEEPALIVE_TIMEOUT (15 s by default) closes a connection left open after an answer."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "booth_server.cli",
            "--port",
            str(port),
            "--database",
            f"sqlite:///{tmp_path / 'k.db'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env({"BOOTH_HTTP_KEEPALIVE_TIMEOUT": "2"}),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)
        with sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(10)
            opened = time.monotonic()
            received = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            idle = time.monotonic() - opened
        assert received.startswith(b"HTTP/1.1 200"), received
        assert 1.5 < idle < 9, idle  # closed by the server after about 2 s, not kept for 75
    finally:
        server.terminate()
        server.wait(timeout=30)

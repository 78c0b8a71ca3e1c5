"""`pip install .` (not only editable) gives a working server: static files, migrations and schemas ship."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (found,) = out.glob("*.whl")
    return found


def test_wheel_carries_everything_the_server_reads_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "booth_server/openapi.json",
        "scheduler/migrations/env.py",
        "scheduler/migrations/versions/0001_initial.py",
        "webrtc/schemas/index.json",
    ):
        assert required in names, required
    static = {n for n in names if n.startswith("booth_server/static/")}
    shipped = {
        f"booth_server/static/{p.relative_to(ROOT / 'static')}"
        for p in (ROOT / "static").rglob("*")
        if p.is_file()
    }
    assert shipped and shipped <= static, shipped - static
    migrations = {p.name for p in (ROOT / "scheduler/migrations/versions").glob("0*.py")}
    assert {f"scheduler/migrations/versions/{m}" for m in migrations} <= names


def test_installed_wheel_serves_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # System site-packages supply the dependencies offline; the wheel itself goes into the venv.
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    pip = [
        str(venv / "bin/python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--force-reinstall",
        str(wheel),
    ]
    subprocess.run(pip, check=True, timeout=300, capture_output=True)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTH_") and k != "PYTHONPATH"}
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import booth_server; print(booth_server.__file__)"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [str(venv / "bin/booth-server"), "--demo", "--port", str(port), "--drain-seconds", "0"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/venues", timeout=2) as response:
                    assert len(json.load(response)["venues"]) == 2
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "installed server did not start"
                time.sleep(0.3)
        if (ROOT / "static/index.html").exists():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                assert response.status == 200 and b"<html" in response.read().lower()
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert (workdir / "sebastian.db").exists()


@pytest.mark.timeout(600)  # pip resolves and installs every dependency: a minute, more on a busy machine
def test_wheel_installed_with_its_dependencies_runs_every_entry_point(wheel: Path, tmp_path: Path) -> None:
    """A fresh virtual environment, no system site-packages: what ``pip install .`` gives a user.

    The wheel's declared dependencies are all that is there, so a module importing something
    undeclared (numpy in webrtc/peer.py was one) fails here.
    """
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin/python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTH_") and k != "PYTHONPATH"}
    for command in ("booth-server", "booth-agent"):
        result = subprocess.run(
            [str(venv / "bin" / command), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, (command, result.stderr[-3000:])
        assert result.stdout.startswith(f"usage: {command}"), result.stdout
    every_module = (
        "import importlib, pkgutil\n"
        "names = []\n"
        "for package in ('booth_server', 'scheduler', 'webrtc'):\n"
        "    root = importlib.import_module(package)\n"
        "    for info in pkgutil.walk_packages(root.__path__, package + '.'):\n"
        "        if '.migrations.versions.' not in info.name and not info.name.endswith('migrations.env'):\n"
        "            importlib.import_module(info.name)\n"
        "            names.append(info.name)\n"
        "print(len(names))\n"
    )
    result = subprocess.run(
        [python, "-c", every_module], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout) >= 40, result.stdout

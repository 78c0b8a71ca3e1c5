"""The self-test echo peer's cost: CPU per concurrent self-test, and how many fit on one core.

In the same run, on 127.0.0.1 only, against two servers that speak the echo's HTTP API:

- ``booth-echo`` itself (``python -m webrtc.echo``: aiortc, MediaRelay, black-frame and silence
  analysis), and
- a bare aiortc echo (this file with ``--serve-bare``: the same API, each received track sent
  back through a MediaRelay, nothing else): the floor of any aiortc echo.

The clients (this process, aiortc) send what a kiosk sends for a test: a 320x240 test pattern
at 15 frames/s and a 440 Hz tone, for ``--seconds`` per round, with 1, 2, 4, ... tests at once.
The server's CPU (user + system, all threads) comes from /proc/PID/stat over the steady part of
each round; frames coming back show whether the echo keeps up. Both servers and the clients
gather on 127.0.0.1 only (the bench replaces aioice's address list in its own processes).

    python bench/bench_echo.py                 # about 2 minutes
    python bench/bench_echo.py --counts 1,2 --seconds 4 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webrtc.echo_peer import use_host_addresses  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
FPS = 15


def loopback_only() -> None:
    use_host_addresses(["127.0.0.1"])
    assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the bare echo -----------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """An aiortc echo with the echo's API and nothing else."""
    import secrets

    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    loopback_only()
    sessions: dict[str, Any] = {}

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        pc = RTCPeerConnection()
        relay = MediaRelay()
        pc.on("track", lambda track: pc.addTrack(relay.subscribe(track)))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        session_id = secrets.token_hex(8)
        sessions[session_id] = pc
        return web.json_response({"id": session_id, "sdp": pc.localDescription.sdp}, status=201)

    async def delete(request: web.Request) -> web.Response:
        pc = sessions.pop(request.match_info["id"], None)
        if pc is not None:
            await pc.close()
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/sessions", create)
    app.router.add_delete("/sessions/{id}", delete)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


# --- clients -----------------------------------------------------------------------------------


async def one_test(url: str, seconds: float) -> int:
    """One kiosk's test against the echo at ``url``: frames of video that came back."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from webrtc.peer import FrameCounter, PatternTrack
    from webrtc.selftest_peer import ToneTrack

    class Pattern15(PatternTrack):
        """The pattern at the test's 15 frames/s (aiortc's VideoStreamTrack paces at 30)."""

        _first: float | None = None
        _frames = 0

        async def next_timestamp(self) -> tuple[int, Any]:
            loop = asyncio.get_running_loop()
            if self._first is None:
                self._first = loop.time()
            self._frames += 1
            await asyncio.sleep(max(0.0, self._first + self._frames / FPS - loop.time()))
            return self._frames * (90000 // FPS), fractions.Fraction(1, 90000)

    pc = RTCPeerConnection()
    video, audio = Pattern15(), ToneTrack()
    pc.addTrack(video)
    pc.addTrack(audio)
    counters: list[FrameCounter] = []
    pc.on("track", lambda track: counters.append(FrameCounter(track)))
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/sessions", json={"sdp": pc.localDescription.sdp}) as response:
            body = await response.json()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
        await asyncio.sleep(seconds)
        frames = sum(c.frames for c in counters if c.track.kind == "video")
        async with http.delete(f"{url}/sessions/{body['id']}") as response:
            await response.read()
    for counter in counters:
        await counter.stop()
    await pc.close()
    video.stop()
    audio.stop()
    return frames


async def measure(url: str, pid: int, count: int, seconds: float) -> tuple[float, float]:
    """CPU of the server per test (fraction of one core), and frames back per test per second,
    over the middle of a round (the first 2 s of ICE and codec start are left out)."""
    warmup = 2.0
    tasks = [asyncio.ensure_future(one_test(url, seconds + warmup)) for _ in range(count)]
    await asyncio.sleep(warmup)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    frames = await asyncio.gather(*tasks)
    core_share = (cpu1 - cpu0) / (t1 - t0)
    return core_share / count, statistics.median(frames) / (seconds + warmup)


async def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not start")
            await asyncio.sleep(0.2)


def start_servers() -> dict[str, tuple[str, subprocess.Popen[bytes]]]:
    """booth-echo and the bare echo, each on a free loopback port."""
    env = {**os.environ, "BOOTH_ECHO_TOKEN": "", "PYTHONPATH": str(ROOT)}
    echo_port, bare_port = free_port(), free_port()
    echo = [sys.executable, "-m", "webrtc.echo", "--port", str(echo_port), "--capacity", "64",
            "--ice-address", "127.0.0.1", "--log-level", "WARNING"]  # fmt: skip
    return {
        "booth-echo": (f"http://127.0.0.1:{echo_port}", subprocess.Popen(echo, env=env)),
        "bare aiortc": (
            f"http://127.0.0.1:{bare_port}",
            subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)], env=env),
        ),
    }


async def run(
    servers: dict[str, tuple[str, subprocess.Popen[bytes]]],
    counts: Sequence[int],
    seconds: float,
    rounds: int,
) -> None:
    loopback_only()
    for url, _ in servers.values():
        await wait_healthy(url)
    print(f"cores: {os.cpu_count()}; test media: 320x240 at {FPS} frames/s + Opus tone; "
          f"{seconds:g} s measured per round, median of {rounds} round(s)")  # fmt: skip
    print(f"{'tests at once':>13} | {'booth-echo CPU/test':>19} | {'bare aiortc CPU/test':>20} | "
          f"{'ratio':>5} | {'frames back/s (echo, bare)':>26}")  # fmt: skip
    results: dict[int, dict[str, tuple[float, float]]] = {}
    for count in counts:
        per: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, (url, process) in servers.items():  # alternate the servers
                per[name].append(await measure(url, process.pid, count, seconds))
        results[count] = {
            name: (statistics.median(c for c, _ in v), statistics.median(f for _, f in v))
            for name, v in per.items()
        }
        echo, bare = results[count]["booth-echo"], results[count]["bare aiortc"]
        print(f"{count:>13} | {echo[0] * 100:>17.1f} % | {bare[0] * 100:>18.1f} % | "
              f"{echo[0] / bare[0]:>5.2f} | {echo[1]:>12.1f}, {bare[1]:>11.1f}")  # fmt: skip
    keeps_up = [n for n in counts if results[n]["booth-echo"][1] >= 0.8 * FPS * seconds / (seconds + 2)]
    most = max(keeps_up or counts[:1])
    share = results[most]["booth-echo"][0]
    print(f"frames kept up (>= 80 % of {FPS}/s, start-up aside) at {', '.join(map(str, keeps_up)) or 'none'} "
          f"concurrent test(s); at {most} at once a test costs {share * 100:.1f} % of a core: one core "
          f"runs about {int(1 / share)} self-tests at once")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,2,4", help="tests at once, comma-separated")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    counts = [int(n) for n in args.counts.split(",") if n.strip()]
    servers = start_servers()
    try:
        asyncio.run(run(servers, counts, args.seconds, args.rounds))
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()

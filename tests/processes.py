"""The process tree and Chromium's processes, read from /proc, for the tests that must leave
no browser behind (tests/browser, tests/media); waiting for a server process to answer."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp


def process_state(pid: int) -> str | None:
    """``R``, ``S``, ``Z``... or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command may hold spaces and parentheses: the fields start after the last ')'.
    return stat.rsplit(")", 1)[1].split()[0]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the Playwright driver, Chromium and its zygotes, renderers...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def is_chromium(pid: int) -> bool:
    try:
        return "chrom" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


def live_chromium(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are Chromium processes and neither gone nor zombies."""
    return [pid for pid in pids if is_chromium(pid) and process_state(pid) not in (None, "Z")]


async def wait_until_healthy(origin: str, process: asyncio.subprocess.Process, seconds: float = 30) -> None:
    """Poll ``origin``/healthz until it answers 200; fail if ``process`` exits or time runs out."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{origin}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert process.returncode is None, f"the process in front of {origin} exited"
            assert time.monotonic() < deadline, f"{origin} did not answer within {seconds:g} s"
            await asyncio.sleep(0.1)

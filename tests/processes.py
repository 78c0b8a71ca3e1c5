"""The process tree and Chromium's processes, read from /proc, for the tests that must leave
no browser behind (tests/browser, tests/media)."""

from __future__ import annotations

import os
from pathlib import Path


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

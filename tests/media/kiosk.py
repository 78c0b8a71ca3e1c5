"""Helpers for tests that drive the real kiosk page (/kiosk) in Chromium."""

from __future__ import annotations

import asyncio
import time
from typing import Any

#: Counts the frames the remote <video> presents, whatever stream it is given over time.
COUNT_FRAMES = """() => {
  const video = document.getElementById('remote-video');
  window.kioskFrames = 0;
  window.kioskStreams = video.srcObject ? 1 : 0;  // a stream may have come before this ran
  window.kioskFrameTimes = [];
  // The self view's frames too: a stall of both is this machine's CPU, not the network.
  window.kioskSelfTimes = [];
  const self = document.getElementById('self-video');
  const countSelf = (now) => { window.kioskSelfTimes.push(now); self.requestVideoFrameCallback(countSelf); };
  self.requestVideoFrameCallback(countSelf);
  const count = (now) => {
    window.kioskFrames += 1;
    window.kioskFrameTimes.push(now);
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
  window.kioskStates = [];
  window.kiosk.connection.addEventListener('remote-stream', () => { window.kioskStreams += 1; });
  window.kiosk.connection.addEventListener('state', (e) => { window.kioskStates.push(e.detail.state); });
  // Every room message's seq as the page received it (test instrumentation of the page only).
  window.kioskSeqs = [];
  window.kioskWelcomes = [];
  const connection = window.kiosk.connection;
  const handle = connection._handle.bind(connection);
  connection._handle = (msg) => {
    if (typeof msg.seq === 'number') window.kioskSeqs.push([msg.type, msg.seq]);
    // The welcomes of reconnections made inside a room (the first welcome is not one).
    if (msg.type === 'welcome' && connection.bookingId != null) {
      window.kioskWelcomes.push({resumed: msg.resumed, resync: msg.resync});
    }
    return handle(msg);
  };
}"""


async def until(page: Any, expression: str, within: float = 30) -> Any:
    """Poll ``expression`` in the page until it is truthy. (Playwright's wait_for_function with an
    interval compiles its predicate with eval, which the kiosk's CSP rightly forbids.)"""
    deadline = time.monotonic() + within
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {within} s: {expression}")
        await asyncio.sleep(0.1)


async def frames_at_least(page: Any, at_least: int, within: float = 30) -> int:
    await until(page, f"window.kioskFrames >= {at_least}", within)
    return int(await page.evaluate("window.kioskFrames"))


async def in_call(page: Any, within: float = 30) -> None:
    await page.wait_for_selector(
        "body[data-screen=call][data-conn-state=in-call]", state="attached", timeout=within * 1000
    )


async def longest_frame_gap(page: Any, after_frame: int = 0) -> float:
    """The longest time in seconds between two frames the remote video presented, from frame
    number ``after_frame`` on. If it is long, the self view's longest stall over the same time
    is printed beside it: both stalling at once is the machine's CPU, not the call."""
    remote, local = await page.evaluate(
        """(first) => {
      const longest = (times) => {
        let most = 0;
        for (let i = 1; i < times.length; i += 1) most = Math.max(most, times[i] - times[i - 1]);
        return most / 1000;
      };
      const times = window.kioskFrameTimes.slice(first);
      const since = times.length ? times[0] : 0;
      return [longest(times), longest(window.kioskSelfTimes.filter((t) => t >= since))];
    }""",
        after_frame,
    )
    if remote >= 1.0:
        print(f"remote video stalled {remote:.2f} s; the self view at most {local:.2f} s meanwhile")
    return float(remote)


async def room_seqs(page: Any) -> list[tuple[str, int]]:
    """``(type, seq)`` of every room message the page received, in order."""
    return [(kind, seq) for kind, seq in await page.evaluate("window.kioskSeqs")]


def assert_no_gap_no_duplicate(seqs: list[tuple[str, int]]) -> None:
    """Each room message numbered one more than the last; only a fresh ``joined`` may skip."""
    for (_, before), (kind, seq) in zip(seqs, seqs[1:], strict=False):
        if kind == "joined":
            assert seq > before, seqs
        else:
            assert seq == before + 1, seqs

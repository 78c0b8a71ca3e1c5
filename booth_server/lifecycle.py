"""The server's life from the operator's side: ready, then draining before it stops.

A load balancer must see a node go unready *before* the node stops listening, or it keeps
sending booths to a closed port. So a stop (SIGTERM from systemd, or SIGINT) first only
raises :attr:`Lifecycle.draining`: ``/readyz`` answers 503 and new signalling upgrades are
refused, while the listener stays open and every other route keeps working. After
``drain_seconds`` (or at a second signal) the usual aiohttp shutdown runs: the listener
closes, the booth sockets get ``server_going_away`` and the close 1001, and the process exits.
docs/deploy.md tells the whole sequence.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from webrtc.waiting import wait_set

from .keys import LIFECYCLE

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Lifecycle:
    """Whether this node takes new booths, and the wait between a stop signal and the shutdown."""

    def __init__(self, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        #: True from the first stop signal (or any shutdown) on; never goes back.
        self.draining = False
        self._stop_requested = asyncio.Event()
        self._hurry = asyncio.Event()

    def request_stop(self) -> None:
        """A stop signal: the first begins the drain, a second one cuts it short."""
        if self._stop_requested.is_set():
            log.info("stop signal again: ending the drain now")
            self._hurry.set()
        self._stop_requested.set()

    async def wait_for_stop(self) -> None:
        await self._stop_requested.wait()

    async def drain(self) -> None:
        """Answer unready for ``drain_seconds`` while still serving, so balancers move away."""
        self.draining = True
        if self.drain_seconds <= 0 or self._hurry.is_set():
            return
        log.info("draining: /readyz answers 503 for %g s before the listener closes", self.drain_seconds)
        await wait_set(self._hurry, self.drain_seconds)


async def readyz(request: web.Request) -> web.Response:
    """Ready for new booths: 503 while draining for a shutdown, so balancers stop sending them."""
    if request.app[LIFECYCLE].draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready"})


async def _on_shutdown(app: web.Application) -> None:
    # A shutdown that did not come through drain() (an embedding runner, a test) is a drain too.
    app[LIFECYCLE].draining = True


def setup(app: web.Application, drain_seconds: float) -> None:
    """Add the lifecycle and ``/readyz``. Call before the signalling endpoint's setup, so that
    the flag is up before its shutdown closes the sockets."""
    app[LIFECYCLE] = Lifecycle(drain_seconds)
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get("/readyz", readyz)

"""The headless booth agent: a booth without a browser, speaking signalling protocol version 1.

It connects to the server's websocket with aiohttp, authenticates with its device key, reads
its ``schedule``, joins the booking whose join window is open (and waits for the next one),
and holds one :class:`~webrtc.peer.PeerLink` per partner booth: it sends a test pattern (or
echoes what it receives) and counts the video frames it receives. After a dropped socket it
resumes with its resume token; after ``server_going_away`` it comes back after
``retry_after`` seconds plus jitter. ``docs/protocol.md`` is the contract.

Command line::

    booth-agent --server http://127.0.0.1:8080 --device-key-file /etc/sebastian/booth.key

The key comes from a file or from ``BOOTH_DEVICE_KEY``, never from a flag (flags are visible
to every user in ``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from webrtc.errors import CloseCode
from webrtc.limits import (
    BACKOFF_FIRST,
    BACKOFF_MAX,
    GOING_AWAY_JITTER,
    HEARTBEAT_INTERVAL,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    SHUTDOWN_RETRY_AFTER,
    TOO_EARLY_RETRY,
)
from webrtc.messages import SEQUENCED_TYPES
from webrtc.peer import PeerLink

from .waiting import wait_set

log = logging.getLogger("booth_agent")

SIGNALLING_PATH = "/api/v1/signalling"
#: Close codes after which reconnecting by itself would be wrong (docs/protocol.md section 9).
FINAL_CLOSES = {
    int(code): code.name.lower()
    for code in (CloseCode.UNAUTHORIZED, CloseCode.UNSUPPORTED_VERSION, CloseCode.REPLACED)
}


class AgentStopped(Exception):
    """The server refused this booth for good (unauthorized, replaced, unsupported version)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def signalling_url(server: str, path: str = SIGNALLING_PATH) -> str:
    """``http://host:port`` (or ``ws://``) to the websocket URL; a full ws URL is kept as is."""
    base = server.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if base.startswith(plain):
            base = secure + base[len(plain) :]
    if base.count("/") > 2:  # it already names a path
        return base
    return base + path


class BoothAgent:
    """One booth's connection to the server, its room and its peer links.

    ``run()`` keeps the connection up (reconnecting and resuming) until :meth:`stop` or a
    final refusal (:class:`AgentStopped`). ``on_event(kind, detail)`` hears what a kiosk page
    would show: ``state``, ``schedule``, ``peer-status``, ``countdown``, ``closed``, ``error``.
    """

    def __init__(
        self,
        server: str,
        device_key: str,
        *,
        echo: bool = False,
        auto_join: bool = True,
        client: str = "booth-agent/0.1",
        on_event: Callable[[str, Mapping[str, Any]], None] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = signalling_url(server)
        self._device_key = device_key
        self.echo = echo
        self.auto_join = auto_join
        self.client = client
        self._on_event = on_event
        self._own_session = session is None
        self._session = session
        self.booth_id: int | None = None
        self.booking_id: int | None = None
        self.schedule: dict[str, Any] | None = None
        self.links: dict[int, PeerLink] = {}
        self.roles: dict[int, str] = {}
        self.state = "closed"
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._welcomed = False
        self._resume_token: str | None = None
        self._last_seq = 0
        self._ice_servers: list[dict[str, Any]] = []
        self._clock_offset = timedelta(0)
        self._retry_after: float | None = None
        self._join_task: asyncio.Task[None] | None = None
        self._joining: str | None = None
        self._skip: set[int] = set()
        self._message_id = 0
        self._stopping = asyncio.Event()
        self._progress = asyncio.Event()

    # --- public -----------------------------------------------------------------------

    @property
    def frames_received(self) -> int:
        return sum(link.frames_received for link in self.links.values())

    def server_now(self) -> datetime:
        return datetime.now(UTC) + self._clock_offset

    async def wait_for_frames(self, frames: int) -> None:
        """Until the video from some partner has delivered ``frames`` frames."""
        while not any(link.frames_received >= frames for link in self.links.values()):
            self._progress.clear()
            await wait_set(self._progress, 0.1)

    async def run(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        backoff = BACKOFF_FIRST
        try:
            while not self._stopping.is_set():
                delay: float | None
                try:
                    delay = await self._connection()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.info("connection failed: %s", exc)
                    delay = None
                if self._stopping.is_set():
                    break
                if delay is None:
                    delay = backoff * random.uniform(0.5, 1.0)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                else:
                    backoff = BACKOFF_FIRST
                self._set_state("reconnecting" if self.booking_id is not None else "connecting")
                await wait_set(self._stopping, delay)
        finally:
            await self._drop_room(None)
            if self._join_task:
                self._join_task.cancel()
            if self._own_session and self._session is not None:
                await self._session.close()
            self._set_state("closed")

    async def stop(self) -> None:
        """Leave the room, close the socket, stop reconnecting."""
        self._stopping.set()
        if self.booking_id is not None:
            with contextlib.suppress(Exception):
                await self._send({"type": "leave", "booking_id": self.booking_id})
        if self._ws is not None:
            await self._ws.close()

    def join(self, booking_id: int) -> None:
        self._skip.discard(booking_id)
        asyncio.get_running_loop().create_task(self._send_join(booking_id))

    # --- connection -------------------------------------------------------------------

    async def _connection(self) -> float | None:
        """One websocket connection. Returns how long to wait before the next, None for backoff."""
        assert self._session is not None
        self._welcomed = False
        self._joining = None
        self._set_state("reconnecting" if self.booking_id is not None else "connecting")
        # Not a browser: no Origin header, so the key goes in the upgrade's Authorization header
        # (docs/protocol.md section 1), and hello relies on it.
        headers = {"Authorization": f"Device {self._device_key}"}
        async with self._session.ws_connect(
            self.url, headers=headers, heartbeat=HEARTBEAT_INTERVAL, max_msg_size=MAX_MESSAGE_BYTES
        ) as ws:
            self._ws = ws
            hello: dict[str, Any] = {"type": "hello", "version": PROTOCOL_VERSION, "client": self.client}
            if self.booking_id is not None and self._resume_token:
                hello.update(resume_token=self._resume_token, last_seq=self._last_seq)
            await ws.send_str(json.dumps(hello))
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                await self._handle(json.loads(frame.data))
            code = ws.close_code
        self._ws = None
        was_welcomed = self._welcomed
        self._welcomed = False
        log.info("socket closed with %s", code)
        if code in FINAL_CLOSES:
            await self._drop_room("left")
            self._emit("error", {"code": FINAL_CLOSES[code], "message": f"closed with {code}", "fatal": True})
            self._stopping.set()
            raise AgentStopped(FINAL_CLOSES[code], f"the server closed the connection with {code}")
        if self._retry_after is not None:
            delay, self._retry_after = self._retry_after + random.uniform(0, GOING_AWAY_JITTER), None
            return delay
        if code == CloseCode.TOKEN_EXPIRED or (self.booking_id is not None and was_welcomed):
            return 0.0  # the resume grace is short: try again at once
        return None

    async def _send(self, message: dict[str, Any]) -> None:
        if self._ws is not None and not self._ws.closed and self._welcomed:
            await self._ws.send_str(json.dumps(message))

    # --- incoming ---------------------------------------------------------------------

    async def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind in SEQUENCED_TYPES:
            if kind != "joined":
                if msg.get("booking_id") != self.booking_id:
                    return
                if msg.get("seq", 0) <= self._last_seq:
                    return
            try:
                await self._handle_room(msg)
            except Exception as exc:  # noqa: BLE001  (one bad call must not end the agent)
                log.exception("could not handle %s", kind)
                self._emit("error", {"code": "client_error", "message": f"{kind}: {exc}", "fatal": False})
            if kind == "joined" or msg.get("booking_id") == self.booking_id:
                self._last_seq = msg.get("seq", self._last_seq)
        elif kind == "welcome":
            await self._on_welcome(msg)
        elif kind == "schedule":
            self.schedule = msg
            self._emit("schedule", msg)
            self._plan_join()
        elif kind == "error":
            await self._on_error(msg)
        elif kind == "server_going_away":
            self._retry_after = float(msg.get("retry_after", SHUTDOWN_RETRY_AFTER))

    async def _on_welcome(self, msg: dict[str, Any]) -> None:
        self._welcomed = True
        self.booth_id = msg["booth_id"]
        self._resume_token = msg.get("resume_token")
        self._ice_servers = list(msg.get("ice_servers") or [])
        if "server_time" in msg:
            self._clock_offset = parse_time(msg["server_time"]) - datetime.now(UTC)
        if self.booking_id is not None and msg.get("resumed"):
            self._set_state("in-call" if self.links else "waiting")
            if msg.get("resync"):
                # Signals after our last_seq may be lost (a server crash). aiortc cannot restart
                # ICE itself: ask each partner to (a browser re-offers with fresh credentials).
                for peer in self.links:
                    await self._send({"type": "ice_restart", "booking_id": self.booking_id, "to": peer})
        elif self.booking_id is not None:
            booking_id = self.booking_id
            await self._drop_room(None)
            await self._send_join(booking_id)
        else:
            self._set_state("idle")

    async def _on_error(self, msg: dict[str, Any]) -> None:
        code = msg.get("code", "")
        if self._joining is not None and msg.get("ref") == self._joining:
            self._joining = None
            if code == "too_early":
                self._plan_join(retry_in=TOO_EARLY_RETRY)
        if code in ("slot_ended", "cancelled", "moved") and self.booking_id is not None:
            if code != "moved":
                self._skip.add(self.booking_id)
            await self._drop_room(code)
        self._emit(
            "error", {"code": code, "message": msg.get("message", ""), "fatal": code in FINAL_CLOSES.values()}
        )

    async def _handle_room(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "joined":
            await self._drop_room(None)
            self._joining = None
            self.booking_id = msg["booking_id"]
            if msg.get("ice_servers"):
                self._ice_servers = list(msg["ice_servers"])
            self.roles = {p["booth_id"]: p["role"] for p in msg["peers"]}
            self._set_state("waiting")
        elif kind == "peer_status":
            peer, state = msg["peer"], msg["state"]
            self._emit("peer-status", {"peer": peer, "state": state})
            if state == "joined" or (state == "reconnecting" and peer not in self.links):
                await self._new_link(peer)
            elif state == "left":
                await self._close_link(peer)
        elif kind in ("offer", "answer"):
            sender = msg["from"]
            link = self.links.get(sender)
            if link is None and kind == "offer":
                link = await self._new_link(sender, start=False)
            if link is not None:
                await link.on_description(kind, msg["sdp"])
                self._set_state("in-call")
        elif kind == "candidate":
            link = self.links.get(msg["from"])
            if link is not None:
                await link.on_candidate(msg["candidate"])
        elif kind == "ice_restart":
            link = self.links.get(msg["from"])
            if link is not None:
                link.on_ice_restart()
        elif kind in ("countdown", "extended"):
            self._emit("countdown", msg)
        elif kind == "room_closed":
            if msg["reason"] != "moved":  # a moved booking is joined again at its new time
                self._skip.add(msg["booking_id"])
            await self._drop_room(msg["reason"])

    # --- rooms ------------------------------------------------------------------------

    async def _send_join(self, booking_id: int) -> None:
        if not self._welcomed:
            return
        self._message_id += 1
        self._joining = f"join-{self._message_id}"
        await self._send({"type": "join", "id": self._joining, "booking_id": booking_id})

    def _plan_join(self, retry_in: float | None = None) -> None:
        if self._join_task is not None:
            self._join_task.cancel()
            self._join_task = None
        if not self.auto_join or self.booking_id is not None or self._joining or not self.schedule:
            return
        now = self.server_now()
        soonest: datetime | None = None
        for booking in self.schedule.get("bookings", []):
            if booking["booking_id"] in self._skip or parse_time(booking["end"]) <= now:
                continue
            opens = parse_time(booking["join_opens_at"])
            if opens <= now and retry_in is None:
                self._join_task = asyncio.get_running_loop().create_task(
                    self._send_join(booking["booking_id"])
                )
                return
            soonest = opens if soonest is None else min(soonest, opens)
        if soonest is not None or retry_in is not None:
            wait = retry_in if retry_in is not None else max((soonest - now).total_seconds(), 0) + 0.05  # type: ignore[operator]
            self._join_task = asyncio.get_running_loop().create_task(self._join_later(wait))

    async def _join_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._join_task = None
        self._plan_join()

    async def _new_link(self, peer: int, *, start: bool = True) -> PeerLink:
        await self._close_link(peer)
        booking_id = self.booking_id

        async def send(message: dict[str, Any]) -> None:
            if self.links.get(peer) is link and self.booking_id == booking_id:
                await self._send({**message, "booking_id": booking_id, "to": peer})

        link = PeerLink(peer, self.roles.get(peer, "polite"), self._ice_servers, send, echo=self.echo)
        self.links[peer] = link
        self._set_state("calling")
        if start:
            await link.start()
        return link

    async def _close_link(self, peer: int) -> None:
        link = self.links.pop(peer, None)
        if link is not None:
            await link.close()

    async def _drop_room(self, reason: str | None) -> None:
        booking_id = self.booking_id
        for peer in list(self.links):
            await self._close_link(peer)
        self.booking_id = None
        self._last_seq = 0
        self.roles = {}
        if reason and booking_id is not None:
            self._emit("closed", {"booking_id": booking_id, "reason": reason})
            self._set_state("idle" if self._welcomed else self.state)
            self._plan_join()

    # --- events -----------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._emit("state", {"state": state, "booking_id": self.booking_id})

    def _emit(self, kind: str, detail: Mapping[str, Any]) -> None:
        self._progress.set()
        if self._on_event is not None:
            self._on_event(kind, detail)


# --- command line ---------------------------------------------------------------------


def read_device_key(path: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The key from ``path`` (first line) or ``BOOTH_DEVICE_KEY``; never from a flag."""
    if path:
        with open(path, encoding="utf-8") as handle:
            key = handle.readline().strip()
        if not key:
            raise SystemExit(f"booth-agent: {path} is empty")
        return key
    key = environ.get("BOOTH_DEVICE_KEY", "").strip()
    if not key:
        raise SystemExit("booth-agent: give --device-key-file PATH or set BOOTH_DEVICE_KEY")
    return key


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="booth-agent", description="A headless Sebastian booth (aiortc).")
    parser.add_argument(
        "--server", default="http://127.0.0.1:8080", help="server origin (default %(default)s)"
    )
    parser.add_argument("--device-key-file", help="file holding the device key (else BOOTH_DEVICE_KEY)")
    parser.add_argument("--echo", action="store_true", help="send back the partner's video (self-test echo)")
    parser.add_argument(
        "--exit-after-frames",
        type=int,
        metavar="N",
        help="exit 0 once N video frames were received (smoke tests)",
    )
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="run one media self-test with the server's echo peer, print the verdict and exit "
        "(0 good, 1 fair or poor)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace, device_key: str) -> int:
    def show(kind: str, detail: Mapping[str, Any]) -> None:
        if kind == "schedule":
            log.info("schedule: %d booking(s)", len(detail.get("bookings", [])))
        else:
            log.info("%s: %s", kind, dict(detail))

    agent = BoothAgent(args.server, device_key, echo=args.echo, on_event=show)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, lambda: loop.create_task(agent.stop()))
    runner = loop.create_task(agent.run())
    watchers: list[asyncio.Task[Any]] = [runner]
    if args.exit_after_frames:

        async def enough() -> None:
            await agent.wait_for_frames(args.exit_after_frames)
            log.info("received %d video frames", agent.frames_received)
            await agent.stop()

        watchers.append(loop.create_task(enough()))
    try:
        await runner
    except AgentStopped as exc:
        log.error("stopped: %s", exc)
        return 3
    finally:
        for task in watchers:
            task.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    device_key = read_device_key(args.device_key_file)
    if args.selftest:
        from webrtc.selftest_peer import describe, run_selftest

        result = asyncio.run(run_selftest(signalling_url(args.server), device_key))
        print(describe(result))
        return 0 if result["verdict"] == "good" else 1
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_main(args, device_key))
    return int(uvloop.run(_main(args, device_key)))


if __name__ == "__main__":
    sys.exit(main())

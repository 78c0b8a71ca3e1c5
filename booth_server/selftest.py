"""Booth self-tests through the signalling socket (docs/selftest.md, protocol section 13).

A booth asks (``selftest_start``); at most ``BOOTH_ECHO_CAPACITY`` tests run at once and the
rest wait in order, told so (``selftest_queued``). A running test gets its legs
(``selftest_ready``), hands each leg's offer to the echo peer (``selftest_offer`` ->
``selftest_answer``) and reports what ``getStats()`` showed (``selftest_report``); the server
closes the echo sessions, adds what the echo saw, makes the verdict (:mod:`webrtc.quality`),
stores it as the booth's health and answers ``selftest_result``.

The server also asks for tests (``selftest_request``): 10 minutes before each session, at a
venue's first opening of the day, and when staff press "test now". :func:`handle` is the one
entry point for the socket's messages; :class:`SelfTests` keeps the line and the running tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from scheduler.health import HealthStore, SelfTestRecord
from scheduler.zones import local_span_to_utc, to_local
from webrtc import turn
from webrtc.errors import ProtocolError
from webrtc.messages import (
    ClientMessage,
    IceServer,
    LegReport,
    PathResult,
    SelfTestAnswer,
    SelfTestFigures,
    SelfTestLeg,
    SelfTestOffer,
    SelfTestQueued,
    SelfTestReady,
    SelfTestReport,
    SelfTestRequest,
    SelfTestResult,
    SelfTestStart,
    SelfTestTrigger,
    ServerMessage,
)
from webrtc.quality import Devices, LegResult, assess

from .echo_process import EchoPeer, EchoUnavailable
from .keys import CLOCK, CONFIG, DATABASE, SIGNALLING, STORE

log = logging.getLogger(__name__)

Send = Callable[[ServerMessage], None]

#: A test that has not reported this long after ``selftest_ready`` is dropped (its slot freed).
REPORT_WITHIN = 60.0
#: How long a leg that is not the media leg runs (connect, then see media come back).
PROBE_SECONDS = 4
#: Tests asked for before each session, this long before its start (before its room opens).
BEFORE_SESSION = timedelta(minutes=10)
#: How often the server looks for booths to test (sessions coming up, venues opening).
TRIGGER_EVERY = 30.0
CREDENTIALS_FOR = timedelta(minutes=5)


def relay_leg(url: str) -> str:
    """The self-test leg of a TURN url: ``turns:`` is TLS, ``?transport=tcp`` TCP, else UDP."""
    if url.startswith("turns:"):
        return "relay_tls"
    transport = parse_qs(urlsplit(url.replace("turn:", "turn://", 1)).query).get("transport", ["udp"])[0]
    return "relay_tcp" if transport.lower() == "tcp" else "relay_udp"


@dataclass
class Run:
    """One self-test, from its ``selftest_start`` to its result."""

    test_id: str
    booth_id: int
    trigger: str
    booking_id: int | None
    send: Send
    started_at: datetime | None = None
    legs: tuple[str, ...] = ()
    sessions: dict[str, str] = field(default_factory=dict)  # leg -> echo session id
    echo: dict[str, dict[str, Any]] = field(default_factory=dict)  # leg -> what the echo saw
    timeout: asyncio.TimerHandle | None = None


class SelfTests:
    """The line of self-tests and the running ones, for one server."""

    def __init__(self, app: web.Application, echo: EchoPeer) -> None:
        self.app = app
        self.echo = echo
        self.capacity = echo.capacity
        self.health = HealthStore(app[DATABASE])
        self.running: dict[str, Run] = {}
        self.waiting: deque[Run] = deque()
        self._by_booth: dict[int, Run] = {}
        self._asked: set[tuple[int, str, int, str]] = set()  # requests already made
        #: Booths that started a self-test of their own (a kiosk does when it starts): only
        #: they are asked, so a client that does not speak protocol section 13 never is.
        self.capable: set[int] = set()

    # --- the line ---------------------------------------------------------------------------

    def busy(self, booth_id: int) -> bool:
        return booth_id in self._by_booth

    async def start(self, booth_id: int, message: SelfTestStart, send: Send) -> None:
        if booth_id in self._by_booth:
            raise ProtocolError("unexpected_message", "this booth already has a self-test queued or running")
        if not self.app[CONFIG].selftest:
            raise ProtocolError(
                "selftest_unavailable", "self-tests are turned off on this server (BOOTH_SELFTEST)"
            )
        if self.app[SIGNALLING].room_here(booth_id) is not None:
            raise ProtocolError("unexpected_message", "no self-test during a call: the booth is in a room")
        try:
            await self.echo.ensure_running()
        except EchoUnavailable as exc:
            raise ProtocolError("selftest_unavailable", str(exc)[:200]) from None
        self.capable.add(booth_id)
        run = Run(
            "st_" + secrets.token_urlsafe(12), booth_id, message.trigger.value, message.booking_id, send
        )
        self._by_booth[booth_id] = run
        if len(self.running) < self.capacity:
            self._begin(run)
        else:
            self.waiting.append(run)
            send(SelfTestQueued(test_id=run.test_id, position=len(self.waiting) - 1))

    def _begin(self, run: Run) -> None:
        config, now = self.app[CONFIG], self.app[CLOCK].now()
        run.started_at = now
        self.running[run.test_id] = run
        legs: list[tuple[str, tuple[IceServer, ...]]] = []
        if config.turn_urls and config.turn_secret:
            username, password = turn.credentials(config.turn_secret, run.booth_id, now + CREDENTIALS_FOR)
            for url in config.turn_urls:
                server = IceServer(urls=(url,), username=username, credential=password)
                legs.append((relay_leg(url), (server,)))
        stun = tuple(IceServer(urls=(url,)) for url in config.stun_urls)
        legs.append(("direct", stun))
        unique = dict(legs)  # one leg per transport
        run.legs = tuple(unique)
        run.timeout = asyncio.get_running_loop().call_later(REPORT_WITHIN, self._expire, run.test_id)
        run.send(
            SelfTestReady(
                test_id=run.test_id,
                media_seconds=config.selftest_seconds,
                probe_seconds=PROBE_SECONDS,
                legs=tuple(_leg(name, servers) for name, servers in unique.items()),
            )
        )

    def _finish(self, run: Run) -> None:
        self.running.pop(run.test_id, None)
        if self._by_booth.get(run.booth_id) is run:
            del self._by_booth[run.booth_id]
        if run.timeout is not None:
            run.timeout.cancel()
        for session_id in run.sessions.values():
            asyncio.get_running_loop().create_task(self.echo.close_session(session_id))
        run.sessions.clear()
        while self.waiting and len(self.running) < self.capacity:
            self._begin(self.waiting.popleft())
        for position, waiting in enumerate(self.waiting):
            waiting.send(SelfTestQueued(test_id=waiting.test_id, position=position))

    def _expire(self, test_id: str) -> None:
        run = self.running.get(test_id)
        if run is not None:
            log.info("self-test %s of booth %d timed out", test_id, run.booth_id)
            self._finish(run)

    def _run_of(self, booth_id: int, test_id: str) -> Run:
        run = self.running.get(test_id)
        if run is None or run.booth_id != booth_id:
            raise ProtocolError("unknown_test", f"{test_id[:48]!r} is not a running self-test of this booth")
        return run

    # --- legs and the result ----------------------------------------------------------------

    async def offer(self, booth_id: int, message: SelfTestOffer, send: Send) -> None:
        run = self._run_of(booth_id, message.test_id)
        if message.leg not in run.legs:
            raise ProtocolError(
                "unexpected_message", f"leg {message.leg} is not one of {', '.join(run.legs)}"
            )
        previous = run.sessions.pop(message.leg, None)
        if previous is not None:
            run.echo[message.leg] = await self.echo.close_session(previous)
        try:
            session_id, answer = await self.echo.open_session(message.sdp)
        except EchoUnavailable as exc:
            raise ProtocolError("selftest_unavailable", str(exc)[:200]) from None
        if run.test_id not in self.running:  # timed out meanwhile
            await self.echo.close_session(session_id)
            raise ProtocolError("unknown_test", "the self-test timed out")
        run.sessions[message.leg] = session_id
        send(SelfTestAnswer(test_id=run.test_id, leg=message.leg, sdp=answer))

    async def report(self, booth_id: int, message: SelfTestReport, send: Send) -> None:
        run = self._run_of(booth_id, message.test_id)
        unknown = [leg.leg for leg in message.legs if leg.leg not in run.legs]
        if unknown:
            raise ProtocolError(
                "invalid_message", f"legs {', '.join(unknown)} were not part of this test", "/legs"
            )
        self.running.pop(run.test_id, None)  # no second report, no timeout while we finish
        for leg, session_id in list(run.sessions.items()):
            run.echo[leg] = await self.echo.close_session(session_id)
        run.sessions.clear()
        try:
            result = await self._record(run, message)
        finally:
            self._finish(run)
        send(result)

    async def _record(self, run: Run, message: SelfTestReport) -> SelfTestResult:
        legs = [_leg_result(report, run.echo.get(report.leg, {})) for report in message.legs]
        assessment = assess(legs, Devices(camera=message.camera, microphone=message.microphone))
        now = self.app[CLOCK].now()
        figures = {k: v for k, v in assessment.figures.items() if v is not None}
        await self.health.add_selftest(
            SelfTestRecord(
                test_id=run.test_id,
                booth_id=run.booth_id,
                trigger=run.trigger,
                booking_id=run.booking_id,
                started_at=run.started_at or now,
                finished_at=now,
                verdict=assessment.verdict.value,
                score=assessment.score,
                figures=figures,
                paths=assessment.paths,
                problems=[p.value for p in assessment.problems],
                echo=run.echo,
            )
        )
        log.info("booth %d self-test (%s): %s %s", run.booth_id, run.trigger, assessment.verdict, figures)
        return SelfTestResult(
            test_id=run.test_id,
            verdict=assessment.verdict.value,
            score=assessment.score,
            figures=SelfTestFigures(**figures),  # type: ignore[arg-type]
            paths=tuple(PathResult(leg=leg, works=works) for leg, works in assessment.paths.items()),
            problems=tuple(p.value for p in assessment.problems),
            finished_at=now,
        )

    # --- tests the server asks for ----------------------------------------------------------

    def request(self, booth_id: int, trigger: SelfTestTrigger, booking_id: int | None = None) -> bool:
        """Ask a booth idle on this node to test itself now; False if it is not here, busy, in a
        room, or has never started a self-test (so does not speak protocol section 13)."""
        if booth_id in self._by_booth or booth_id not in self.capable:
            return False
        return self.app[SIGNALLING].send_to(booth_id, SelfTestRequest(trigger=trigger, booking_id=booking_id))

    async def ask_when_due(self, now: datetime) -> None:
        """Sessions starting within 10 minutes, and venues that opened today: ask their booths."""
        if not self.capable or not self.app[CONFIG].selftest:
            return
        store = self.app[STORE]
        booths = [b for b in await store.booths() if b.id in self.capable]
        if not booths:
            return
        ids = [b.id for b in booths]
        for view in await store.bookings_of_booths(ids, now, now + BEFORE_SESSION):
            if view.status != "confirmed" or view.start <= now:
                continue
            for booth in view.booths:
                key = (booth.id, "before_session", view.id, "")
                if key not in self._asked and self.request(booth.id, SelfTestTrigger.BEFORE_SESSION, view.id):
                    self._asked.add(key)
        for booth in booths:
            opened = _opened_today(booth.venue, now)
            if opened is None:
                continue
            key = (booth.id, "opening", 0, opened.isoformat())
            if key in self._asked:
                continue
            if await self.health.tested_since(booth.id, opened) or self.request(
                booth.id, SelfTestTrigger.OPENING
            ):
                self._asked.add(key)


def _leg(name: str, servers: tuple[IceServer, ...]) -> SelfTestLeg:
    return SelfTestLeg(leg=name, relay_only=name != "direct", ice_servers=servers)


def _opened_today(venue: Any, now: datetime) -> datetime | None:
    """When the venue first opened on its local today, if that is already past."""
    today = to_local(now, venue.timezone).date()
    spans = venue.opening_hours.for_weekday(today.weekday())
    if not spans:
        return None
    first = local_span_to_utc(today, spans[0][0], spans[0][1], venue.timezone).start
    return first if first <= now else None


def _leg_result(report: LegReport, echo: dict[str, Any]) -> LegResult:
    return LegResult(
        leg=report.leg,
        connected=report.connected,
        media=bool(report.media),
        rtt_ms=report.rtt_ms,
        jitter_ms=report.jitter_ms,
        loss_percent=report.loss_percent,
        bitrate_up_kbps=report.bitrate_up_kbps,
        bitrate_down_kbps=report.bitrate_down_kbps,
        frames_received=report.frames_received or 0,
        echo_video_frames=echo.get("video_frames"),  # None: the echo's report did not arrive
        echo_black_frames=int(echo.get("black_frames") or 0),
        echo_audio_dbfs=echo.get("audio_dbfs"),
        video_limited_by=report.video_limited_by,
    )


SELFTESTS: web.AppKey[SelfTests] = web.AppKey("selftests")


async def handle(app: web.Application, booth_id: int, message: ClientMessage, send: Send) -> None:
    """The socket's entry point for ``selftest_start``, ``selftest_offer``, ``selftest_report``."""
    tests = app[SELFTESTS]
    if isinstance(message, SelfTestStart):
        await tests.start(booth_id, message, send)
    elif isinstance(message, SelfTestOffer):
        await tests.offer(booth_id, message, send)
    elif isinstance(message, SelfTestReport):
        await tests.report(booth_id, message, send)


async def _asking(tests: SelfTests) -> None:
    while True:
        try:
            await tests.ask_when_due(tests.app[CLOCK].now())
        except Exception:
            log.exception("could not look for booths to self-test")
        await asyncio.sleep(TRIGGER_EVERY)


async def _selftests_ctx(app: web.Application) -> AsyncIterator[None]:
    echo = EchoPeer(app[CONFIG])
    tests = SelfTests(app, echo)
    app[SELFTESTS] = tests
    asking = asyncio.create_task(_asking(tests))
    yield
    asking.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asking
    await echo.stop()


def setup(app: web.Application) -> None:
    """Register after the signalling context (the line asks the room registry who is where)."""
    app.cleanup_ctx.append(_selftests_ctx)

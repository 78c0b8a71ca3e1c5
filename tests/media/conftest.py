"""Real WebRTC media between Chromium pages and aiortc agents, through the real server.

These tests run only inside a network namespace that has nothing but ``lo`` (docs/testing.md: media
in a test flows over loopback only). ``tests/server/test_media_namespace.py`` starts them with
``unshare -n`` and ``SEBASTIAN_IN_NETNS=1``; any other pytest run does not collect this
directory at all, so ``python -m pytest`` on the host never opens a peer connection outside
the namespace. Inside, PostgreSQL and Redis on 127.0.0.1 are out of reach: SQLite only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import random
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from booth_server.app import create_app, static_dir
from booth_server.clock import Clock
from booth_server.config import Config
from tests.conftest import ADMIN, CANTINE_A, SF_A, missing_service, token_for
from tests.processes import descendants, is_chromium, process_state
from tests.server.tls_support import certificates
from webrtc.quality import SELFTEST_BITRATE

IN_NETNS = os.environ.get("SEBASTIAN_IN_NETNS") == "1"
if not IN_NETNS:
    collect_ignore_glob = ["test_*.py"]

CHROMIUM = os.environ.get("SEBASTIAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HERE = Path(__file__).resolve().parent
PAGE = "/media-test/booth_page.html"
#: The booked session: Tuesday 16 March 2027, 17:00 in Paris = 09:00 in San Francisco (an
#: 8-hour week), 15 minutes, the shortest slot the rules allow.
SESSION_START = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)
SESSION_MINUTES = 15


def pytest_report_header(config: pytest.Config) -> str | None:
    if IN_NETNS:
        return "media tests: inside a loopback-only network namespace"
    return (
        "media tests: not collected outside their namespace; "
        "run `python -m pytest tests/server/test_media_namespace.py` (docs/media-testing.md)"
    )


def pytest_configure(config: pytest.Config) -> None:
    if IN_NETNS:
        interfaces = sorted(name for _index, name in socket.if_nameindex())
        if interfaces != ["lo"]:
            raise pytest.UsageError(
                f"SEBASTIAN_IN_NETNS=1 but this network namespace has {interfaces}: media tests run "
                "only where loopback is the only interface (see docs/media-testing.md)"
            )


# --- the server --------------------------------------------------------------------------


async def _media_test_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ("booth_page.html", "booth_page.js"):
        raise web.HTTPNotFound()
    kind = "text/html" if name.endswith(".html") else "text/javascript"
    return web.FileResponse(HERE / name, headers={"Content-Type": f"{kind}; charset=utf-8"})


async def _signalling_js(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "signalling.js", headers={"Content-Type": "text/javascript"})


async def _routed(app: web.Application, path: str) -> bool:
    match = await app.router.resolve(make_mocked_request("GET", path, app=app))
    return match.http_exception is None


@dataclass
class Session:
    """A booked session between a Paris booth and a San Francisco booth, with their device keys."""

    client: TestClient[Any, Any]
    clock: Clock
    booking_id: int
    paris_key: str
    sf_key: str

    @property
    def origin(self) -> str:
        return str(self.client.make_url("/")).rstrip("/")

    @property
    def page_url(self) -> str:
        return self.origin + PAGE


async def issue_device_key(client: TestClient[Any, Any], booth_id: int) -> str:
    """Pair a booth as staff do: the API answers the key once."""
    headers = await token_for(client, ADMIN)
    response = await client.post(f"/api/v1/booths/{booth_id}/device-key", headers=headers)
    assert response.status in (200, 201), await response.text()
    body = await response.json()
    return str(body.get("device_key") or body["key"])


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    """The real app on SQLite with the demo data, a booked session, keys for both booths, and
    the clock moved to one second after the session's start."""
    async with booked_session(tmp_path) as booked:
        yield booked


#: The embedded echo peer gathers on loopback, the only address in the namespace (a product
#: setting, BOOTH_ECHO_ICE_ADDRESSES); 3 s of media keep the self-tests short.
SELFTEST_CONFIG: dict[str, Any] = {"echo_ice_addresses": ("127.0.0.1",), "selftest_seconds": 3}


def clean_network_problems(result: dict[str, Any]) -> list[str]:
    """The problems a self-test over a clean network names: none, or ``device_busy`` alone when
    Chromium said its CPU held the video encoder back and the video came back below the good
    band (a loaded test machine: docs/selftest.md, "A busy computer is not a slow network")."""
    figures = result["figures"]
    held = figures.get("video_limited_by") == "cpu" and figures["bitrate_down_kbps"] < SELFTEST_BITRATE.good
    return ["device_busy"] if held else []


@pytest.fixture
async def selftest_session(tmp_path: Path) -> AsyncIterator[Session]:
    """:func:`session` with the self-test settings."""
    async with booked_session(tmp_path, **SELFTEST_CONFIG) as booked:
        yield booked


@contextlib.asynccontextmanager
async def booked_session(tmp_path: Path, **config: Any) -> AsyncIterator[Session]:
    clock = Clock(datetime(2027, 3, 1, 12, 0, tzinfo=UTC))
    app = create_app(Config(database=f"sqlite:///{tmp_path / 'media.db'}", demo=True, **config), clock=clock)
    app.router.add_get("/media-test/{name}", _media_test_file)
    if not await _routed(app, "/static/signalling.js"):
        app.router.add_get("/static/signalling.js", _signalling_js)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        response = await client.post(
            "/api/v1/bookings",
            headers=await token_for(client),
            json={
                "booths": [CANTINE_A, SF_A],
                "start": SESSION_START.isoformat().replace("+00:00", "Z"),
                "duration_minutes": SESSION_MINUTES,
                "title": "Paris meets San Francisco",
            },
        )
        assert response.status == 201, await response.text()
        booking_id = (await response.json())["id"]
        paris_key = await issue_device_key(client, CANTINE_A)
        sf_key = await issue_device_key(client, SF_A)
        clock.advance(SESSION_START + timedelta(seconds=1) - clock.now())
        yield Session(client, clock, booking_id, paris_key, sf_key)
    finally:
        await client.close()


# --- the browser ---------------------------------------------------------------------------


def processes_marked(marker: str) -> list[int]:
    """Processes whose environment holds ``marker``: everything a browser launched with it
    started, including Chromium's crash handler, which double-forks away from its parent."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def browser_processes(marker: str) -> set[int]:
    """One browser's Chromium processes: those that carry its marker (the browser process and
    its crash handler) and everything below them (zygotes and renderers, whose environment
    Chromium clears). Not every Chromium below this test process: another browser may run."""
    marked = processes_marked(marker)
    return {pid for root in marked for pid in (root, *descendants(root)) if is_chromium(pid)}


@contextlib.asynccontextmanager
async def launch_chromium(*extra_flags: str) -> AsyncIterator[Any]:
    """The system Chromium with the media flags (plus ``extra_flags``, e.g. a fake camera file
    or a pinned TURN certificate); afterwards no live Chromium process of it may remain."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240  (once per browser)
        missing_service("Chromium", f"{CHROMIUM} does not exist (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        missing_service("Playwright", str(exc))
    flags = [*CHROMIUM_FLAGS, *extra_flags, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    marker = f"SEBASTIAN_MEDIA_BROWSER={secrets.token_hex(8)}"
    name, value = marker.split("=")
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM, args=flags, env={**os.environ, name: value}
    )
    seen = browser_processes(marker)
    assert seen, "Chromium started but none of its processes was found"
    try:
        yield browser
    finally:
        seen |= browser_processes(marker)
        await browser.close()
        await playwright.stop()
        seen |= set(processes_marked(marker))  # the crash handler, reparented to init
        deadline = time.monotonic() + 10
        live = sorted(seen)
        while live and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            live = [pid for pid in seen if process_state(pid) not in (None, "Z")]
        assert not live, f"Chromium processes still alive 10 s after the browser closed: {live}"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One system Chromium for the whole run."""
    async with launch_chromium() as launched:
        yield launched


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test body failed, so fixtures can print what the pages saw."""
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


class Kiosks:
    """Booth pages, each in its own browser context (its own window, like a real kiosk).

    Two pages in one context would be two tabs of one window: the hidden one renders nothing,
    so ``requestVideoFrameCallback`` never fires there.
    """

    def __init__(self, browser: Any, session: Session) -> None:
        self.browser = browser
        self.session = session
        self.contexts: list[Any] = []

    async def open(self, device_key: str, **options: Any) -> Any:
        """A page that pairs with ``device_key`` and joins its booking when the window is open
        (``relay_only=True``: its peer connections use ``iceTransportPolicy: "relay"``)."""
        context = await self.browser.new_context()
        self.contexts.append(context)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.page_errors = errors
        await page.goto(self.session.page_url)
        await page.wait_for_function("typeof window.startBooth === 'function'")
        assert await page.evaluate("document.visibilityState") == "visible"
        relay = bool(options.pop("relay_only", False))
        assert not options, f"unknown options {sorted(options)}"
        await page.evaluate("([key, relayOnly]) => startBooth(key, {relayOnly})", [device_key, relay])
        return page

    async def open_idle(self, device_key: str, session: Session | None = None) -> Any:
        """A booth page that stays out of its session's room (for self-tests: none in a call)."""
        context = await self.browser.new_context()
        self.contexts.append(context)
        page = await context.new_page()
        await page.goto((session or self.session).page_url)
        await page.wait_for_function("typeof window.startBooth === 'function'")
        await page.evaluate("key => startBooth(key, {autoJoin: false})", device_key)
        await page.wait_for_function("window.booth && window.booth.state === 'idle'", timeout=20000)
        return page

    async def dump(self) -> None:
        for number, context in enumerate(self.contexts):
            for page in context.pages:
                try:
                    state = await page.evaluate("JSON.stringify(window.mediaTest)")
                    stats = await page.evaluate("callStats().then(JSON.stringify)")
                except Exception as exc:  # noqa: BLE001
                    state = stats = f"(unreadable: {exc})"
                print(f"--- kiosk {number}: {state}\n--- kiosk {number} WebRTC stats: {stats}")

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def kiosks(browser: Any, session: Session, request: pytest.FixtureRequest) -> AsyncIterator[Kiosks]:
    """Opens booth pages; when the test failed, prints what each page's booth went through."""
    opened = Kiosks(browser, session)
    try:
        yield opened
    finally:
        if request.node.stash.get(_FAILED, False):
            await opened.dump()
        await opened.close()


async def wait_for_frames(page: Any, frames: int, within: float = 30.0) -> int:
    await page.wait_for_function(f"window.mediaTest.frames >= {frames}", timeout=within * 1000, polling=100)
    return int(await page.evaluate("window.mediaTest.frames"))


async def page_events(page: Any, kind: str | None = None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = await page.evaluate("window.mediaTest.events")
    return [e for e in events if kind is None or e["type"] == kind]


# --- aiortc --------------------------------------------------------------------------------


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """aioice leaves 127.0.0.1 out of its host candidates; in a namespace with only ``lo`` it
    would gather nothing. Test-only: product code never does this."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    yield


# --- TURN: Debian's coturn with the shipped configuration ------------------------------------

REPO = HERE.parents[1]
COTURN_CONF = REPO / "deploy" / "coturn" / "turnserver.conf"


@dataclass
class Coturn:
    port: int
    secret: str
    process: Any
    log: Path
    #: TURN over TLS on 443, when started with a certificate: the certificate's key pin for
    #: Chromium (``--ignore-certificate-errors-spki-list``), which checks a TURN server's
    #: certificate as it does a web server's.
    tls_pin: str | None = None

    def urls(self, port: int | None = None) -> tuple[str, ...]:
        """TURN over UDP and TCP (``port``: a relay in front of coturn instead of coturn itself)."""
        return (
            f"turn:127.0.0.1:{port or self.port}?transport=udp",
            f"turn:127.0.0.1:{self.port}?transport=tcp",
        )

    @property
    def tls_url(self) -> str:
        assert self.tls_pin is not None, "this coturn was started without TLS"
        return "turns:127.0.0.1:443?transport=tcp"

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 10)


def spki_pin(cert_file: Path) -> str:
    """The certificate's key pin (base64 of the SHA-256 of its SubjectPublicKeyInfo), as
    Chromium's ``--ignore-certificate-errors-spki-list`` takes it."""
    key = x509.load_pem_x509_certificate(cert_file.read_bytes()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextlib.asynccontextmanager
async def start_coturn(tmp_path: Path, *, tls: bool = False) -> AsyncIterator[Coturn]:
    """coturn started with ``deploy/coturn/turnserver.conf`` as shipped, plus what a test needs:
    a free port on loopback, the test's secret, its files in the test's directory, a verbose
    log there, and ``--allowed-peer-ip=127.0.0.1 --allow-loopback-peers``. The shipped file
    denies loopback peers (a relay must not reach the TURN host's own services), and coturn
    refuses them by itself too; here the echo peer *is* on loopback, the only address of the
    namespace, so the test allows that one address.

    Without ``tls`` there is no TLS listener (no certificate). With it, a certificate made here
    and the shipped file's ``tls-listening-port=443``: port 443 is free in the test's own
    network namespace."""
    turnserver = shutil.which("turnserver")
    if turnserver is None:
        missing_service("coturn", "turnserver is not installed (apt-get install coturn)")
    assert turnserver is not None
    port, secret = _free_port(), secrets.token_hex(16)
    pin = None
    if tls:
        made = certificates(tmp_path)
        pin = spki_pin(made.cert_file)
        security = ["--cert", str(made.cert_file), "--pkey", str(made.key_file), "--no-dtls"]
    else:
        security = ["--no-tls", "--no-dtls"]
    command = [
        turnserver, "-c", str(COTURN_CONF),
        "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(port),
        *security, "--static-auth-secret", secret, "--realm", "booths.test",
        "--allowed-peer-ip=127.0.0.1", "--allow-loopback-peers", "--verbose", "--pidfile", str(tmp_path / "turnserver.pid"),
        "--db", str(tmp_path / "turndb"), "--log-file", "stdout",
    ]  # fmt: skip
    log = (tmp_path / "turnserver.log").open("wb")  # noqa: ASYNC230  (before the server starts)
    process = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=asyncio.subprocess.STDOUT)
    server = Coturn(port, secret, process, tmp_path / "turnserver.log", pin)
    deadline = time.monotonic() + 15
    # coturn listens on TCP and UDP at once: the TCP ports say it is up.
    for listening in (port, 443) if tls else (port,):
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", listening)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline or process.returncode is not None:
                    await server.stop()
                    log.close()
                    raise AssertionError(
                        f"coturn did not listen on {listening} (status {process.returncode}): "
                        f"{server.log.read_text(errors='replace')[-2000:]}"
                    ) from None
                await asyncio.sleep(0.1)
    try:
        yield server
    finally:
        await server.stop()
        log.close()


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    """:func:`start_coturn` without TLS."""
    async with start_coturn(tmp_path) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ImpairedRelay(asyncio.DatagramProtocol):
    """A user-space UDP relay that delays and drops, in both directions (``tc netem`` is not
    available here): the browser talks TURN to it, it talks to coturn. One upstream socket per
    client address, so coturn sees each client as its own 5-tuple."""

    def __init__(self, target: tuple[str, int], delay: float, drop: float, seed: int = 7) -> None:
        self.target, self.delay, self.drop = target, delay, drop
        self.random = random.Random(seed)
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: dict[tuple[str, int], asyncio.DatagramTransport] = {}
        self.relayed = self.dropped = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def _later(self, send: Any, data: bytes, *args: Any) -> None:
        if self.random.random() < self.drop:
            self.dropped += 1
            return
        self.relayed += 1
        asyncio.get_running_loop().call_later(self.delay, send, data, *args)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        upstream = self.upstream.get(addr)
        if upstream is None:
            asyncio.get_running_loop().create_task(self._open(data, addr))
            return
        self._later(upstream.sendto, data)

    async def _open(self, first: bytes, client: tuple[str, int]) -> None:
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                assert relay.transport is not None
                relay._later(relay.transport.sendto, data, client)

        if client not in self.upstream:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                Back, remote_addr=self.target
            )
            self.upstream[client] = transport
        self._later(self.upstream[client].sendto, first)

    def close(self) -> None:
        for transport in self.upstream.values():
            transport.close()
        if self.transport is not None:
            self.transport.close()


@contextlib.asynccontextmanager
async def impaired_relay(
    target_port: int, delay: float, drop: float
) -> AsyncIterator[tuple[int, ImpairedRelay]]:
    """An :class:`ImpairedRelay` on a free loopback port in front of ``target_port``."""
    transport, relay = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: ImpairedRelay(("127.0.0.1", target_port), delay, drop), local_addr=("127.0.0.1", 0)
    )
    try:
        yield int(transport.get_extra_info("sockname")[1]), relay
    finally:
        relay.close()

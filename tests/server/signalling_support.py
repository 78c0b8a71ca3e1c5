"""A real websocket booth for the signalling tests, and a booked session to put it in.

Every server message a test booth receives is parsed with ``webrtc.messages.parse(...,
origin="server")``, so the server's output is checked against the protocol's JSON Schemas, and
room messages are checked for gap-free ``seq`` numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from booth_server.app import openapi_document
from booth_server.clock import Clock
from tests.conftest import ADA, CANTINE_A, SF_A, STAFF_PARIS, STAFF_SF, token_for
from webrtc.messages import SEQUENCED_TYPES, parse


def check_openapi(schema_name: str, value: Any) -> None:
    """``value`` fits ``components/schemas/<schema_name>`` of the served OpenAPI document."""
    document = openapi_document()
    registry: Registry[Any] = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(document))
    schema = {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}
    Draft202012Validator(schema, registry=registry).validate(value)


PATH = "/api/v1/signalling"
START = "2027-03-16T16:00:00Z"
SDP_OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
SDP_ANSWER = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def set_clock(clock: Clock, text: str) -> None:
    """Move the shifted clock to ``text`` (it keeps running from there)."""
    clock.advance(instant(text) - clock.now())


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


@dataclass
class Booth:
    """One booth's socket as a test sees it."""

    ws: aiohttp.ClientWebSocketResponse
    booth_id: int = 0
    welcome: dict[str, Any] = field(default_factory=dict)
    last_seq: int = 0
    schedules: list[dict[str, Any]] = field(default_factory=list)
    pings: int = 0

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps(message))

    async def recv(self, wait: float = 5.0) -> dict[str, Any]:
        """The next server message (schema-checked); :class:`Closed` when the socket closes."""
        while True:
            frame = await self.ws.receive(timeout=wait)
            if frame.type is aiohttp.WSMsgType.TEXT:
                break
            if frame.type is aiohttp.WSMsgType.PING:  # with autoping off, the test sees them
                self.pings += 1
                await self.ws.pong(frame.data)
                continue
            if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise Closed(self.ws.close_code, frame.extra or "")
            raise AssertionError(f"unexpected frame {frame!r}")
        message = json.loads(frame.data)
        parse(message, origin="server")
        if message["type"] in SEQUENCED_TYPES:
            if message["type"] == "joined":
                assert message["seq"] > self.last_seq, (message, self.last_seq)
            else:
                assert message["seq"] == self.last_seq + 1, (message, self.last_seq)
            self.last_seq = message["seq"]
        return message

    async def expect(self, type_: str, wait: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The next message that is not a ``schedule`` must be ``type_`` (with ``fields``)."""
        while True:
            message = await self.recv(wait)
            if message["type"] == "schedule" and type_ != "schedule":
                self.schedules.append(message)
                continue
            assert message["type"] == type_, message
            for name, value in fields.items():
                assert message.get(name) == value, (name, message)
            return message

    async def expect_closed(
        self, code: int, wait: float = 5.0, *, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """Read until the close (with ``reason``, when given); returns what came before it."""
        before = []
        try:
            while True:
                before.append(await self.recv(wait))
        except Closed as closed:
            assert closed.code == code, (closed.code, closed.reason, before)
            assert reason is None or closed.reason == reason, (closed.reason, reason)
        return before

    async def silent(self, seconds: float = 0.3) -> None:
        """Nothing but schedules arrives for a while."""
        try:
            message = await self.expect("nothing", wait=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {message}")


@dataclass
class Session:
    """A booked session on Cantine A (Paris) and SF A, with both booths paired."""

    client: TestClient[Any, Any]
    clock: Clock
    booking_id: int
    keys: dict[int, str]
    ada: dict[str, str]
    staff_paris: dict[str, str]
    staff_sf: dict[str, str]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.client.port}"

    async def socket(self, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        kwargs.setdefault("origin", self.origin)
        return await self.client.ws_connect(PATH, **kwargs)

    async def connect(
        self, booth_id: int, *, hello: dict[str, Any] | None = None, schedule: bool = True, **kwargs: Any
    ) -> Booth:
        """A booth that said hello with its device key and got its welcome (and schedule)."""
        booth = Booth(await self.socket(**kwargs))
        await booth.send(type="hello", version=1, **(hello or {"device_key": self.keys[booth_id]}))
        booth.welcome = await booth.expect("welcome")
        booth.booth_id = booth.welcome["booth_id"]
        if schedule and not booth.welcome["resumed"]:
            booth.schedules.append(await booth.expect("schedule"))
        return booth

    async def both_joined(self) -> tuple[Booth, Booth]:
        """Paris joins first (waiting room), then SF; both see each other joined."""
        paris, sf = await self.connect(CANTINE_A), await self.connect(SF_A)
        await paris.send(type="join", booking_id=self.booking_id)
        await paris.expect("joined")
        await paris.expect("peer_status", peer=SF_A, state="waiting")
        await sf.send(type="join", booking_id=self.booking_id)
        await sf.expect("joined")
        await sf.expect("peer_status", peer=CANTINE_A, state="joined")
        await paris.expect("peer_status", peer=SF_A, state="joined")
        return paris, sf


async def pair(client: TestClient[Any, Any], booth_id: int, staff: dict[str, str]) -> str:
    response = await client.post(f"/api/v1/booths/{booth_id}/device-key", headers=staff)
    assert response.status == 201, await response.text()
    return str((await response.json())["device_key"])


async def book(
    client: TestClient[Any, Any],
    headers: dict[str, str],
    start: str = START,
    booths: tuple[int, ...] = (CANTINE_A, SF_A),
    minutes: int = 60,
    **extra: Any,
) -> int:
    response = await client.post(
        "/api/v1/bookings",
        headers=headers,
        json={"booths": list(booths), "start": start, "duration_minutes": minutes, "title": "Pitch", **extra},
    )
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def booked_session(
    make_client: Any, database: str, clock: Clock, *, at: str = "2027-03-16T15:56:00Z", **config: Any
) -> Session:
    """The app, a session at 16:00Z on Cantine A + SF A booked by Ada, both booths paired, clock at ``at``."""
    client = await make_client(database, **config)
    ada = await token_for(client, ADA)
    staff_paris, staff_sf = await token_for(client, STAFF_PARIS), await token_for(client, STAFF_SF)
    booking_id = await book(client, ada)
    keys = {CANTINE_A: await pair(client, CANTINE_A, staff_paris), SF_A: await pair(client, SF_A, staff_sf)}
    set_clock(clock, at)
    return Session(client, clock, booking_id, keys, ada, staff_paris, staff_sf)

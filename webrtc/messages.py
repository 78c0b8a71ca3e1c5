"""Every message of signalling protocol version 1 as a frozen dataclass, and their codec.

``parse`` checks a decoded dict against the message's JSON Schema (``webrtc/schemas``)
before it builds the dataclass, so a ``Message`` object is always valid; ``dump`` turns it
back into the wire dict. Wire names that are not Python names (``from``, ``sdpMid``) are
declared per field. ``docs/protocol.md`` describes each message with an example.

The signals a room relays (offer, answer, candidate, ice_restart: nearly all of a call's
traffic) also have a lean form: the server checks their wire dict against the schema and
:func:`relayed` builds the partner's copy straight from it, numbered and encoded once, as a
:class:`Relayed`. Typed messages cost several times the socket's own work per message
(docs/benchmarks.md); ``Relayed.message()`` is the typed view of one, for tests and tools.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from functools import cache
from types import NoneType, UnionType
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

from webrtc import schema
from webrtc.errors import ProtocolError
from webrtc.limits import MAX_MESSAGE_BYTES, SUPPORTED_VERSIONS
from webrtc.quality import VideoLimit
from webrtc.schema import Origin

__all__ = [
    "Answer",
    "Candidate",
    "CallStats",
    "CloseReason",
    "ClientMessage",
    "Countdown",
    "ErrorMessage",
    "Extended",
    "Hello",
    "IceCandidate",
    "IceRestart",
    "IceServer",
    "Join",
    "Joined",
    "Leave",
    "LegReport",
    "Message",
    "Offer",
    "Partner",
    "PeerAnswer",
    "PeerCandidate",
    "PeerIceRestart",
    "PeerInfo",
    "PeerOffer",
    "PeerState",
    "PathResult",
    "PeerStatus",
    "Ping",
    "Relayed",
    "SEQUENCED_TYPES",
    "SIGNAL_TYPES",
    "Pong",
    "Role",
    "RoomClosed",
    "Schedule",
    "ScheduledBooking",
    "SelfTestAnswer",
    "SelfTestFigures",
    "SelfTestLeg",
    "SelfTestOffer",
    "SelfTestQueued",
    "SelfTestReady",
    "SelfTestReport",
    "SelfTestRequest",
    "SelfTestResult",
    "SelfTestStart",
    "SelfTestTrigger",
    "Sequenced",
    "ServerGoingAway",
    "ServerMessage",
    "Signal",
    "Welcome",
    "decode",
    "dump",
    "encode",
    "encode_bytes",
    "error_message",
    "load",
    "message_types",
    "parse",
    "readable_id",
    "relayed",
]


class Role(enum.StrEnum):
    """Perfect-negotiation role of a booth towards one peer."""

    POLITE = "polite"  # yields on offer collision (rolls back its own offer)
    IMPOLITE = "impolite"  # ignores a colliding offer; makes the first offer


class PeerState(enum.StrEnum):
    WAITING = "waiting"  # booked but not arrived yet
    JOINED = "joined"  # arrived with a fresh connection: (re)start negotiation
    RECONNECTING = "reconnecting"  # its socket dropped; it has 30 s to resume
    BACK = "back"  # resumed: its peer connection survived, consider an ICE restart
    LEFT = "left"  # left, or did not come back within the grace


class CloseReason(enum.StrEnum):
    SLOT_ENDED = "slot_ended"
    CANCELLED = "cancelled"
    MOVED = "moved"  # the booking now has another time or other booths: the call as joined is over


def _wire(name: str, **kwargs: Any) -> Any:
    """A field whose JSON name differs from its Python name."""
    return field(metadata={"wire": name}, **kwargs)


def _nullable(**kwargs: Any) -> Any:
    """A field written as JSON null when None (end of candidates), instead of left out."""
    return field(metadata={"nullable": True}, **kwargs)


def _local(**kwargs: Any) -> Any:
    """A datetime written with its own UTC offset (a wall-clock time), not converted to UTC."""
    return field(metadata={"local": True}, **kwargs)


# --- values nested in messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IceCandidate:
    """RTCIceCandidateInit, with the browser's JSON names on the wire."""

    candidate: str
    sdp_mid: str | None = _wire("sdpMid", default=None)
    sdp_mline_index: int | None = _wire("sdpMLineIndex", default=None)
    username_fragment: str | None = _wire("usernameFragment", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class IceServer:
    """RTCIceServer: STUN entries have no credentials, TURN entries do."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IceServer:
        """Build from :func:`webrtc.turn.ice_servers` output."""
        return cls(urls=tuple(raw["urls"]), username=raw.get("username"), credential=raw.get("credential"))


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerInfo:
    booth_id: int
    role: Role  # the receiving booth's own role towards this peer


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner:
    booth_id: int
    name: str
    city: str
    timezone: str
    local_start: datetime = _local()
    local_end: datetime = _local()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledBooking:
    booking_id: int
    start: datetime
    end: datetime
    local_start: datetime = _local()  # in the receiving booth's zone
    local_end: datetime = _local()
    join_opens_at: datetime
    partners: tuple[Partner, ...]


# --- message bases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message; ``type`` is the wire ``type`` of the subclass."""

    type: ClassVar[str]
    origin: ClassVar[Origin]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientMessage(Message):
    origin: ClassVar[Origin] = "client"
    id: str | int | None = None  # echoed as ``ref`` in the error or pong that answers it


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerMessage(Message):
    origin: ClassVar[Origin] = "server"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sequenced(ServerMessage):
    """A room message: numbered per recipient, kept for replay on resume."""

    seq: int = 0  # 0 until the room numbers it; the wire form always has seq >= 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal(ClientMessage):
    """A client message that the room relays to one partner booth."""

    booking_id: int
    to: int | None = None  # may be left out when the room has exactly two booths


_M = TypeVar("_M", bound=Message)
_CLIENT: dict[str, type[ClientMessage]] = {}
_SERVER: dict[str, type[ServerMessage]] = {}


def _register(cls: type[_M]) -> type[_M]:
    table: dict[str, Any] = _CLIENT if issubclass(cls, ClientMessage) else _SERVER
    table[cls.type] = cls
    return cls


# --- client -> server ---------------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(ClientMessage):
    type: ClassVar[str] = "hello"
    version: int
    device_key: str | None = None
    session_token: str | None = None
    resume_token: str | None = None
    last_seq: int | None = None
    client: str | None = None


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Join(ClientMessage):
    type: ClassVar[str] = "join"
    booking_id: int


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Leave(ClientMessage):
    type: ClassVar[str] = "leave"
    booking_id: int


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Offer(Signal):
    type: ClassVar[str] = "offer"
    sdp: str


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Answer(Signal):
    type: ClassVar[str] = "answer"
    sdp: str


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate(Signal):
    type: ClassVar[str] = "candidate"
    candidate: IceCandidate | None = _nullable()  # None: end of candidates


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class IceRestart(Signal):
    type: ClassVar[str] = "ice_restart"


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(ClientMessage):
    type: ClassVar[str] = "ping"


# --- server -> client ---------------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome(ServerMessage):
    type: ClassVar[str] = "welcome"
    version: int
    booth_id: int
    session_token: str
    session_expires_at: datetime
    resume_token: str
    resumed: bool
    server_time: datetime
    heartbeat_interval: int
    idle_timeout: int
    resume_grace: int
    ice_servers: tuple[IceServer, ...]
    #: With ``resumed``: the ``seq`` of the last missed message replayed after this welcome
    #: (the booth's own ``last_seq`` when it missed nothing).
    replay_until: int | None = None
    #: With ``resumed``: true when messages after the booth's ``last_seq`` were lost in a
    #: restart; the booth keeps its call and renegotiates (docs/protocol.md, Resume).
    resync: bool | None = None


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule(ServerMessage):
    type: ClassVar[str] = "schedule"
    booth_id: int
    timezone: str
    generated_at: datetime
    bookings: tuple[ScheduledBooking, ...]


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Joined(Sequenced):
    type: ClassVar[str] = "joined"
    booking_id: int
    booth_id: int
    start: datetime
    end: datetime
    peers: tuple[PeerInfo, ...]
    ice_servers: tuple[IceServer, ...]


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class PeerStatus(Sequenced):
    type: ClassVar[str] = "peer_status"
    booking_id: int
    peer: int
    state: PeerState


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class PeerOffer(Sequenced):
    type: ClassVar[str] = "offer"
    booking_id: int
    sender: int = _wire("from")
    sdp: str


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class PeerAnswer(Sequenced):
    type: ClassVar[str] = "answer"
    booking_id: int
    sender: int = _wire("from")
    sdp: str


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class PeerCandidate(Sequenced):
    type: ClassVar[str] = "candidate"
    booking_id: int
    sender: int = _wire("from")
    candidate: IceCandidate | None = _nullable()


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class PeerIceRestart(Sequenced):
    type: ClassVar[str] = "ice_restart"
    booking_id: int
    sender: int = _wire("from")


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Countdown(Sequenced):
    type: ClassVar[str] = "countdown"
    booking_id: int
    remaining_seconds: int
    end: datetime


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Extended(Sequenced):
    type: ClassVar[str] = "extended"
    booking_id: int
    end: datetime
    ice_servers: tuple[IceServer, ...]


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class RoomClosed(Sequenced):
    type: ClassVar[str] = "room_closed"
    booking_id: int
    reason: CloseReason


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorMessage(ServerMessage):
    type: ClassVar[str] = "error"
    code: str
    message: str
    ref: str | int | None = None
    path: str | None = None


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(ServerMessage):
    type: ClassVar[str] = "pong"
    ref: str | int | None = None


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerGoingAway(ServerMessage):
    type: ClassVar[str] = "server_going_away"
    retry_after: int


# --- booth readiness: self-test with the echo peer, in-call quality (docs/protocol.md 13) --


class SelfTestTrigger(enum.StrEnum):
    KIOSK_START = "kiosk_start"
    OPENING = "opening"  # the venue's first opening of the day
    BEFORE_SESSION = "before_session"  # 10 minutes before a booked session
    STAFF = "staff"  # asked for from the staff console
    MANUAL = "manual"  # someone at the booth pressed the button


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestLeg:
    """One path to try: ``direct`` (any candidate) or one TURN transport, relay only."""

    leg: str
    relay_only: bool
    ice_servers: tuple[IceServer, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LegReport:
    """What the kiosk measured on one leg with ``getStats()`` (units as named)."""

    leg: str
    connected: bool
    media: bool | None = None
    candidate_type: str | None = None
    relay_protocol: str | None = None
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    loss_percent: float | None = None
    bitrate_up_kbps: float | None = None
    bitrate_down_kbps: float | None = None
    frames_received: int | None = None
    frames_sent: int | None = None
    video_limited_by: VideoLimit | None = None  # outbound video's qualityLimitationReason
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestFigures:
    path: str | None = None
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    loss_percent: float | None = None
    bitrate_up_kbps: float | None = None
    bitrate_down_kbps: float | None = None
    frames_received: int | None = None
    echo_video_frames: int | None = None
    black_percent: float | None = None
    audio_dbfs: float | None = None
    video_limited_by: VideoLimit | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PathResult:
    leg: str
    works: bool


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestStart(ClientMessage):
    type: ClassVar[str] = "selftest_start"
    trigger: SelfTestTrigger
    booking_id: int | None = None  # the session a before_session test is for


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestOffer(ClientMessage):
    type: ClassVar[str] = "selftest_offer"
    test_id: str
    leg: str
    sdp: str


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestReport(ClientMessage):
    type: ClassVar[str] = "selftest_report"
    test_id: str
    camera: bool
    microphone: bool
    legs: tuple[LegReport, ...]


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class CallStats(ClientMessage):
    type: ClassVar[str] = "call_stats"
    booking_id: int
    rtt_ms: float
    jitter_ms: float
    loss_percent: float
    bitrate_out_kbps: float
    bitrate_in_kbps: float
    frames_received: int
    relayed: bool


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestRequest(ServerMessage):
    type: ClassVar[str] = "selftest_request"
    trigger: SelfTestTrigger
    booking_id: int | None = None


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestQueued(ServerMessage):
    type: ClassVar[str] = "selftest_queued"
    test_id: str
    position: int  # tests waiting before this one


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestReady(ServerMessage):
    type: ClassVar[str] = "selftest_ready"
    test_id: str
    media_seconds: int
    probe_seconds: int
    legs: tuple[SelfTestLeg, ...]


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestAnswer(ServerMessage):
    type: ClassVar[str] = "selftest_answer"
    test_id: str
    leg: str
    sdp: str


@_register
@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestResult(ServerMessage):
    type: ClassVar[str] = "selftest_result"
    test_id: str
    verdict: str
    score: float | None = None
    figures: SelfTestFigures
    paths: tuple[PathResult, ...]
    problems: tuple[str, ...]
    finished_at: datetime


#: The client messages a room relays to a partner booth, by wire type.
SIGNAL_TYPES: frozenset[str] = frozenset(t for t, cls in _CLIENT.items() if issubclass(cls, Signal))
#: The server messages that carry ``seq`` (room messages, replayed on resume), by wire type.
SEQUENCED_TYPES: frozenset[str] = frozenset(t for t, cls in _SERVER.items() if issubclass(cls, Sequenced))
#: The field of each signal that is passed on to the partner (ice_restart carries none).
_SIGNAL_PAYLOAD: dict[str, str | None] = {
    "offer": "sdp",
    "answer": "sdp",
    "candidate": "candidate",
    "ice_restart": None,
}
assert set(_SIGNAL_PAYLOAD) == SIGNAL_TYPES


# --- codec --------------------------------------------------------------------------------


def message_types(origin: Origin) -> dict[str, type[Message]]:
    """The message classes of one direction, by wire type."""
    return dict(_CLIENT if origin == "client" else _SERVER)


def parse(raw: object, *, origin: Origin = "client") -> Message:
    """Validate a decoded JSON value and build its message.

    ``origin`` is who sent it: the server parses ``"client"`` messages, booth agents and
    tests parse ``"server"`` ones. Raises :class:`ProtocolError` (``invalid_message``,
    ``unknown_type``, ``unsupported_version``) and nothing else.
    """
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_message", "a message is a JSON object", path="")
    ref = readable_id(raw) if origin == "client" else None
    try:
        message_type = raw.get("type")
        if not isinstance(message_type, str):
            raise ProtocolError("invalid_message", "`type` must be a string", path="/type")
        cls = (_CLIENT if origin == "client" else _SERVER).get(message_type)
        if cls is None:
            raise ProtocolError(
                "unknown_type", f"no {origin} message has type {message_type[:40]!r}", path="/type"
            )
        if cls is Hello:
            _check_version(raw)
        schema.validate(raw, origin, message_type)
        try:
            return _decode_object(raw, cls)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. 2025-02-30 passes the pattern
            raise ProtocolError("invalid_message", str(exc)[:200]) from None
    except ProtocolError as exc:
        exc.ref = ref
        raise


def load(data: bytes) -> Any:
    """One text frame's payload as a JSON value, not yet validated: size check, then JSON.

    The JSON must be I-JSON (RFC 7493), as orjson reads it: UTF-8 (a text frame's encoding),
    no lone surrogates, no NaN or infinite numbers, nested at most 1,024 deep.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError("message_too_big", f"{len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"not JSON: {str(exc)[:120]}") from None


def decode(text: str | bytes, *, origin: Origin = "client") -> Message:
    """Parse one websocket frame: :func:`load`, then :func:`parse`."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")  # a lone surrogate fails as JSON, not here
    return parse(load(text), origin=origin)


class Relayed:
    """A signal as relayed to one partner: numbered for it and encoded once.

    Rooms keep these in their history and the server sends ``data`` (UTF-8 JSON) as it is,
    on the first delivery and on every replay. It is exactly :func:`encode_bytes` of the typed
    message (:class:`PeerOffer`, :class:`PeerAnswer`, :class:`PeerCandidate`,
    :class:`PeerIceRestart`) that :meth:`message` returns.
    """

    __slots__ = ("data", "seq", "type")

    def __init__(self, message_type: str, seq: int, data: bytes) -> None:
        self.type = message_type
        self.seq = seq
        self.data = data

    @property
    def text(self) -> str:
        return self.data.decode()

    def message(self) -> Sequenced:
        """The typed message, parsed from ``data`` (and so checked against its schema)."""
        message = decode(self.data, origin="server")
        assert isinstance(message, Sequenced)
        return message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Relayed) and self.data == other.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"Relayed({self.type!r}, seq={self.seq})"


def relayed(wire: dict[str, Any], booking_id: int, sender: int, seq: int) -> Relayed:
    """The partner's copy of the client signal ``wire``, a dict that passed its schema.

    Only the signal's own payload (``sdp`` or ``candidate``) is copied, under the routing the
    server vouches for: the client's ``id``, ``to`` and ``booking_id`` are not passed on.
    """
    message_type = wire["type"]
    out = {"type": message_type, "seq": seq, "booking_id": booking_id, "from": sender}
    payload = _SIGNAL_PAYLOAD[message_type]
    if payload is not None:
        out[payload] = wire[payload]
    return Relayed(message_type, seq, _dumps(out))


def dump(msg: Message) -> dict[str, Any]:
    """The wire dict of a message (``type`` first)."""
    return _encode_object(msg, {"type": msg.type})


def encode(msg: Message) -> str:
    """The wire text of a message: compact JSON."""
    return _dumps(dump(msg)).decode()


def encode_bytes(msg: Message) -> bytes:
    """The wire form of a message: compact JSON in UTF-8, the payload of its text frame."""
    return _dumps(dump(msg))


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # A string orjson cannot write as UTF-8: a lone surrogate, which no socket lets in but
        # a name stored through another door might hold. Escaped, it is still valid JSON.
        return _ASCII_ENCODER.encode(value).encode()


def error_message(exc: ProtocolError) -> ErrorMessage:
    """The ``error`` message that reports ``exc`` to the client."""
    return ErrorMessage(code=exc.code, message=exc.message, ref=exc.ref, path=exc.path)


def readable_id(raw: dict[Any, Any]) -> str | int | None:
    """A client message's ``id``, if it is one the error answering it can echo as ``ref``."""
    value = raw.get("id")
    if isinstance(value, str) and 0 < len(value) <= 64:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53:
        return value
    return None


def _check_version(raw: dict[Any, Any]) -> None:
    # Checked before the schema: a newer client's hello may carry fields v1 does not know.
    version = raw.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise ProtocolError(
            "unsupported_version", f"version {version} is not supported; use {supported}", path="/version"
        )


_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


_PLAIN = frozenset({str, int, bool, float, NoneType})


_WIRE_FIELDS: dict[type, tuple[tuple[str, str, bool, bool], ...]] = {}


def _wire_fields(cls: type) -> tuple[tuple[str, str, bool, bool], ...]:
    """``(name, wire name, nullable, local)`` of each field, in declaration order."""
    found = _WIRE_FIELDS.get(cls)
    if found is None:
        found = _WIRE_FIELDS[cls] = tuple(
            (
                f.name,
                f.metadata.get("wire", f.name),
                bool(f.metadata.get("nullable")),
                bool(f.metadata.get("local")),
            )
            for f in fields(cls)
        )
    return found


def _encode_object(obj: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    if out is None:
        out = {}
    for name, wire, nullable, local in _wire_fields(type(obj)):
        value = getattr(obj, name)
        if value is None:
            if nullable:
                out[wire] = None
        elif type(value) in _PLAIN:  # most fields: no conversion (checked first, it is cheap)
            out[wire] = value
        else:
            out[wire] = _encode(value, local=local)
    return out


def _encode(value: Any, *, local: bool = False) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return _format_time(value, local=local)
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if is_dataclass(value):
        return _encode_object(value)
    return value


def _format_time(value: datetime, *, local: bool) -> str:
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {value!r}: the protocol only carries aware times")
    if not local:
        value = value.astimezone(UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _decode_object(raw: dict[str, Any], cls: type) -> Any:
    return _decoder(cls)(raw)


_Convert = Callable[[Any], Any]


@cache
def _decoder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """A function building ``cls`` from its (already validated) wire dict, made once per class:
    the type hints are read here, not for every message."""
    hints = _hints(cls)
    specs = [
        (
            f.metadata.get("wire", f.name),
            f.name,
            _converter(hints[f.name]),
            f.default is MISSING and f.default_factory is MISSING,
        )
        for f in fields(cls)
    ]

    def decode(raw: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {}
        for wire, name, convert, required in specs:
            if wire in raw:
                value = raw[wire]
                kwargs[name] = value if convert is None else convert(value)
            elif required:
                raise ValueError(f"missing {wire}")  # the schema should have caught it
        return cls(**kwargs)

    return decode


def _converter(hint: Any) -> _Convert | None:
    """How to turn a JSON value into a field of type ``hint`` (None: as it is)."""
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        options = [arg for arg in get_args(hint) if arg is not NoneType]
        if len(options) == 1:
            inner = _converter(options[0])
            if inner is None:
                return None
            return lambda value: None if value is None else inner(value)
        # ``str | int`` ids: JSON Schema counts 1.0 as an integer, Python should not keep a float.
        return lambda value: int(value) if isinstance(value, float) else value
    if origin is tuple:
        item = _converter(get_args(hint)[0])
        if item is None:
            return tuple
        return lambda value: tuple(item(v) for v in value)
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return hint
        if hint is datetime:
            return datetime.fromisoformat
        if hint is int:
            return lambda value: value if type(value) is int else int(value)
        if is_dataclass(hint):
            return _decoder(hint)
    return None

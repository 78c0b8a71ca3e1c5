"""Messages: every type round-trips, every refusal has its stable code and path."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.webrtc.signal_examples import CAND, EXAMPLES, KEY, PARIS_SUMMER, SDP, T
from webrtc.errors import ERRORS, ProtocolError
from webrtc.limits import MAX_MESSAGE_BYTES
from webrtc.messages import (
    SEQUENCED_TYPES,
    SIGNAL_TYPES,
    Answer,
    Candidate,
    Countdown,
    ErrorMessage,
    IceRestart,
    Join,
    Message,
    Offer,
    PeerAnswer,
    PeerCandidate,
    PeerIceRestart,
    PeerOffer,
    Ping,
    Sequenced,
    Signal,
    decode,
    dump,
    encode,
    encode_bytes,
    error_message,
    message_types,
    parse,
    relayed,
)


def test_examples_cover_every_message_type() -> None:
    for origin in ("client", "server"):
        covered = {type(m) for m in EXAMPLES if m.origin == origin}
        assert covered == set(message_types(origin).values())


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: f"{m.origin}-{m.type}")
def test_round_trip(message: Message) -> None:
    wire = dump(message)
    assert wire["type"] == message.type
    assert parse(wire, origin=message.origin) == message
    assert decode(encode(message), origin=message.origin) == message
    assert json.loads(encode(message)) == wire


def test_wire_names_and_null_end_of_candidates() -> None:
    assert dump(PeerCandidate(seq=1, booking_id=42, sender=2, candidate=None)) == {
        "type": "candidate",
        "seq": 1,
        "booking_id": 42,
        "from": 2,
        "candidate": None,
    }
    assert dump(Candidate(booking_id=42, candidate=CAND))["candidate"] == {
        "candidate": CAND.candidate,
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "abcd",
    }
    assert "to" not in dump(Offer(booking_id=42, sdp=SDP))  # None fields are left out


def test_times_utc_with_z_and_local_with_offset() -> None:
    entry = dump(EXAMPLES[14])["bookings"][0]
    assert entry["start"] == "2025-06-12T15:00:00Z"
    assert entry["local_start"] == "2025-06-12T17:00:00+02:00"
    assert entry["partners"][0]["local_start"] == "2025-06-12T08:00:00-07:00"
    paris_aware = Countdown(seq=1, booking_id=1, remaining_seconds=60, end=T.astimezone(PARIS_SUMMER))
    assert dump(paris_aware)["end"] == "2025-06-12T15:00:00Z"  # UTC fields are converted
    with pytest.raises(ValueError, match="naive"):
        dump(Countdown(seq=1, booking_id=1, remaining_seconds=60, end=datetime(2025, 6, 12)))


def offer(**changes: Any) -> dict[str, Any]:
    return {"type": "offer", "id": "m1", "booking_id": 42, "sdp": SDP, **changes}


def hello(**changes: Any) -> dict[str, Any]:
    return {"type": "hello", "version": 1, "device_key": KEY, **changes}


def cand(**changes: Any) -> dict[str, Any]:
    return {
        "type": "candidate",
        "booking_id": 42,
        "candidate": {"candidate": CAND.candidate, "sdpMid": "0", **changes},
    }


def without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != key}


# (raw client message, code, path) for every way parse refuses a message.
REFUSALS: list[tuple[Any, str, str | None]] = [
    ([1, 2], "invalid_message", ""),
    ("offer", "invalid_message", ""),
    ({}, "invalid_message", "/type"),
    ({"type": 5}, "invalid_message", "/type"),
    ({"type": "teleport"}, "unknown_type", "/type"),
    ({"type": "welcome"}, "unknown_type", "/type"),  # a server message sent by a client
    (hello(version=2), "unsupported_version", "/version"),
    (hello(version=2, future_field=True), "unsupported_version", "/version"),
    (without(hello(), "version"), "invalid_message", "/version"),
    (hello(version="1"), "invalid_message", "/version"),
    (hello(device_key="short"), "invalid_message", "/device_key"),
    (hello(device_key="has spaces in the key!"), "invalid_message", "/device_key"),
    (hello(session_token=KEY), "invalid_message", ""),  # device key and session token together
    (hello(resume_token=KEY), "invalid_message", "/last_seq"),
    (hello(last_seq=3), "invalid_message", "/resume_token"),
    (hello(resume_token=KEY, last_seq=-1), "invalid_message", "/last_seq"),
    (offer(extra=1), "invalid_message", "/extra"),
    (without(offer(), "sdp"), "invalid_message", "/sdp"),
    (without(offer(), "booking_id"), "invalid_message", "/booking_id"),
    (offer(booking_id=0), "invalid_message", "/booking_id"),
    (offer(booking_id=True), "invalid_message", "/booking_id"),
    (offer(booking_id=2**60), "invalid_message", "/booking_id"),
    (offer(booking_id="42"), "invalid_message", "/booking_id"),
    (offer(sdp="hello"), "invalid_message", "/sdp"),
    (offer(sdp="v=0\r\n" + "a" * 60000), "invalid_message", "/sdp"),
    (offer(to="2"), "invalid_message", "/to"),
    (offer(id=""), "invalid_message", "/id"),
    (offer(id=["x"]), "invalid_message", "/id"),
    (offer(id="x" * 65), "invalid_message", "/id"),
    ({"type": "candidate", "booking_id": 42}, "invalid_message", "/candidate"),
    (cand(candidate="not a candidate"), "invalid_message", "/candidate/candidate"),
    (cand(sdpMid=5), "invalid_message", "/candidate/sdpMid"),
    (cand(sdpMLineIndex=-1), "invalid_message", "/candidate/sdpMLineIndex"),
    (cand(port=1), "invalid_message", "/candidate/port"),
    (
        {"type": "candidate", "booking_id": 42, "candidate": {"candidate": "candidate:1"}},
        "invalid_message",
        "/candidate",
    ),  # neither sdpMid nor sdpMLineIndex: addIceCandidate would throw
    ({"type": "candidate", "booking_id": 42, "candidate": "candidate:1"}, "invalid_message", "/candidate"),
    ({"type": "join"}, "invalid_message", "/booking_id"),
    (
        {
            "type": "selftest_report",
            "test_id": "st_abcdefgh1234",
            "camera": True,
            "microphone": True,
            "legs": [{"leg": "direct", "connected": True, "video_limited_by": "gpu"}],
        },
        "invalid_message",
        "/legs/0/video_limited_by",
    ),  # fmt: skip
    ({"type": "ping", "booking_id": 1}, "invalid_message", "/booking_id"),
]


@pytest.mark.parametrize(("raw", "code", "path"), REFUSALS)
def test_parse_refusals(raw: Any, code: str, path: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(raw)
    assert (caught.value.code, caught.value.path) == (code, path)
    assert ERRORS[code].on_wire
    report = error_message(caught.value)
    assert parse(dump(report), origin="server") == report  # every refusal can be reported


def test_errors_point_back_at_the_client_message_and_never_echo_values() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(hello(device_key="secret key with spaces", id="h1"))
    assert caught.value.ref == "h1"
    assert "secret" not in caught.value.message
    with pytest.raises(ProtocolError) as caught:
        parse({"type": "nope", "id": 12})
    assert caught.value.ref == 12


def test_server_messages_are_checked_too() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(
            {"type": "peer_status", "seq": 0, "booking_id": 1, "peer": 2, "state": "waiting"}, origin="server"
        )
    assert caught.value.path == "/seq"  # an unnumbered room message never reaches the wire
    with pytest.raises(ProtocolError) as caught:
        parse({"type": "room_closed", "seq": 1, "booking_id": 1, "reason": "bored"}, origin="server")
    assert caught.value.path == "/reason"
    with pytest.raises(ProtocolError) as caught:  # the pattern allows it, the calendar does not
        parse(
            {
                "type": "countdown",
                "seq": 1,
                "booking_id": 1,
                "remaining_seconds": 60,
                "end": "2025-02-30T10:00:00Z",
            },
            origin="server",
        )
    assert caught.value.code == "invalid_message"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "bad_json"),
        ("", "bad_json"),
        ('{"type": "ping", "id": NaN}', "bad_json"),
        ('{"type": "ping", "id": Infinity}', "bad_json"),
        (b"\xff\xfe{}", "bad_json"),
        ("[" * 100_000 + "]" * 100_000, "message_too_big"),
        ("[" * 20_000 + "]" * 20_000, "bad_json"),  # too deep for the decoder: still only ProtocolError
        ("[]", "invalid_message"),
        ('{"type": "pong"}', "unknown_type"),
        (" " * MAX_MESSAGE_BYTES + "{}", "message_too_big"),
        ("é" * (MAX_MESSAGE_BYTES // 2 + 1), "message_too_big"),  # the limit is in bytes, not characters
    ],
)
def test_decode_refusals(text: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(text)
    assert caught.value.code == code


def test_decode_accepts_bytes_and_float_integers() -> None:
    assert decode(b'{"type":"ping","id":3}') == Ping(id=3)
    joined = decode('{"type":"join","booking_id":42.0}')
    assert isinstance(joined, Join) and joined == Join(booking_id=42) and type(joined.booking_id) is int


def test_error_codes_have_a_close_rule() -> None:
    closing = {code for code, spec in ERRORS.items() if spec.close_code is not None}
    assert closing == {
        "message_too_big",
        "unsupported_version",
        "unauthorized",
        "token_expired",
        "auth_timeout",
        "idle_timeout",
        "replaced",
        "internal_error",
        "state_lost",
    }
    with pytest.raises(ValueError):
        ProtocolError("no_such_code", "typo")


# --- fuzz: whatever comes in, parse raises ProtocolError or returns a valid message ----------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
type_names = st.sampled_from([*message_types("client"), *message_types("server"), "x", ""])
known_fields = st.sampled_from(
    [
        "id",
        "version",
        "device_key",
        "session_token",
        "resume_token",
        "last_seq",
        "booking_id",
        "to",
        "sdp",
        "candidate",
        "seq",
        "from",
        "client",
    ]
)


def _check_parse(raw: Any, origin: str) -> None:
    try:
        message = parse(raw, origin=origin)  # type: ignore[arg-type]
    except ProtocolError as exc:
        assert exc.code in ERRORS
        return
    assert parse(dump(message), origin=origin) == message  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=12), json_values, max_size=6) | json_values,
    st.sampled_from(["client", "server"]),
)
def test_fuzz_random_values(raw: Any, origin: str) -> None:
    _check_parse(raw, origin)


@settings(max_examples=250, deadline=None)
@given(
    st.sampled_from(EXAMPLES),
    st.dictionaries(known_fields, json_values, max_size=3),
    type_names,
    st.booleans(),
)
def test_fuzz_mutated_valid_messages(
    base: Message, changes: dict[str, Any], new_type: str, retype: bool
) -> None:
    raw = {**dump(base), **changes}
    if retype:
        raw["type"] = new_type
    _check_parse(raw, base.origin)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_fuzz_decode_text(text: str | bytes) -> None:
    try:
        decode(text)
    except ProtocolError:
        pass


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"hello","version":1,"client":"kiosk \\ud800"}',  # an escaped lone surrogate
        b'{"type":"hello","version":1,"client":"kiosk \xed\xa0\x80"}',  # one encoded in the bytes
        b'{"type":"hello","version":1,"client":"kiosk \xff"}',  # not UTF-8 at all
        '{"type":"hello","version":NaN}',
        '{"type":"hello","version":1e400}',  # infinite as a double
    ],
)
def test_frames_that_are_not_i_json_are_bad_json(frame: str | bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(frame)
    assert caught.value.code == "bad_json" and caught.value.message.startswith("not JSON: ")


def test_a_lone_surrogate_from_elsewhere_is_still_sent_as_valid_json() -> None:
    # No socket lets one in, but a booth name stored through another door might hold one.
    message = ErrorMessage(code="internal_error", message="booth \ud800")
    data = encode_bytes(message)
    assert data == b'{"type":"error","code":"internal_error","message":"booth \\ud800"}'
    assert json.loads(data) == {"type": "error", "code": "internal_error", "message": "booth \ud800"}


def test_messages_are_frozen() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        EXAMPLES[0].version = 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("signal", "typed"),
    [
        (
            Offer(booking_id=42, sdp=SDP, id="o1", to=2),
            PeerOffer(seq=3, booking_id=42, sender=1, sdp=SDP),
        ),
        (Answer(booking_id=42, sdp=SDP), PeerAnswer(seq=3, booking_id=42, sender=1, sdp=SDP)),
        (
            Candidate(booking_id=42, candidate=CAND, id=7),
            PeerCandidate(seq=3, booking_id=42, sender=1, candidate=CAND),
        ),
        (
            Candidate(booking_id=42, candidate=None),
            PeerCandidate(seq=3, booking_id=42, sender=1, candidate=None),
        ),
        (IceRestart(booking_id=42, to=2), PeerIceRestart(seq=3, booking_id=42, sender=1)),
    ],
    ids=lambda value: getattr(value, "type", ""),
)
def test_a_relayed_signal_is_byte_for_byte_the_typed_message(signal: Signal, typed: Sequenced) -> None:
    # The server relays a signal from its wire dict without building dataclasses: the partner
    # must get exactly what the typed path would have sent, and nothing of the sender's routing.
    relayed_copy = relayed(dump(signal), booking_id=42, sender=1, seq=3)
    assert relayed_copy.data == encode_bytes(typed)
    assert relayed_copy.message() == typed and (relayed_copy.type, relayed_copy.seq) == (typed.type, 3)
    assert not {"id", "to"} & set(json.loads(relayed_copy.data))


def test_signal_types_are_the_relayed_client_messages() -> None:
    assert SIGNAL_TYPES == {"offer", "answer", "candidate", "ice_restart"}
    assert all(issubclass(message_types("client")[t], Signal) for t in SIGNAL_TYPES)


def test_sequenced_types_are_the_room_messages() -> None:
    assert SEQUENCED_TYPES == {
        "joined",
        "peer_status",
        "offer",
        "answer",
        "candidate",
        "ice_restart",
        "countdown",
        "extended",
        "room_closed",
    }

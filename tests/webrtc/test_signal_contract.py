"""The contract agrees with itself: schema files, index, dataclasses, limits and docs/protocol.md."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.webrtc.signal_examples import EXAMPLES
from webrtc import limits, schema
from webrtc.errors import ERRORS
from webrtc.messages import dump, message_types, parse
from webrtc.schema import Origin

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
BASE = "https://sebastian.invalid/signalling/v1/"
DOC_TURN_SECRET = "north-pole-secret"
ORIGINS: tuple[Origin, Origin] = ("client", "server")


def test_every_schema_is_valid_draft_2020_12_with_its_own_id() -> None:
    files = schema.load_all()
    for name, document in files.items():
        Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["$id"] == BASE + name


def test_index_lists_every_file_and_every_message_class() -> None:
    index = schema.index()
    listed = {name for origin in ORIGINS for name in index["messages"][origin].values()}
    assert listed | {"index.json", "common.json"} == set(schema.load_all())
    for origin in ORIGINS:
        assert set(index["messages"][origin]) == set(message_types(origin))
        assert [ref["$ref"] for ref in index["$defs"][origin]["oneOf"]] == list(
            index["messages"][origin].values()
        )
    assert (ROOT / "webrtc" / "schemas" / "__init__.py").exists()  # ships as package data


def test_index_validates_any_message_of_its_direction() -> None:
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (document["$id"], Resource.from_contents(document)) for document in schema.load_all().values()
    )
    for origin in ORIGINS:
        checker = Draft202012Validator({"$ref": f"{BASE}index.json#/$defs/{origin}"}, registry=registry)
        for message in EXAMPLES:
            assert checker.is_valid(dump(message)) == (message.origin == origin), message


# --- docs/protocol.md --------------------------------------------------------------------


def doc_messages() -> list[tuple[Origin, dict[str, Any]]]:
    """Every example in the document with its direction: ```json blocks under a heading that
    says "client → server" or "server → client", and "→ " / "← " lines in flows."""
    found: list[tuple[Origin, dict[str, Any]]] = []
    heading_origin: Origin | None = None
    block: list[str] | None = None
    fence = ""
    for line in DOC.splitlines():
        if line.startswith("#"):
            if "client → server" in line:
                heading_origin = "client"
            elif "server → client" in line:
                heading_origin = "server"
            else:
                heading_origin = None
        if line.startswith("```"):
            if block is None:
                block, fence = [], line[3:].strip()
            else:
                if fence == "json":
                    assert heading_origin, f"json example outside a message section: {block}"
                    found.append((heading_origin, json.loads("\n".join(block))))
                block = None
            continue
        if block is not None:
            block.append(line)
            if line.startswith("→ "):
                found.append(("client", json.loads(line[2:])))
            elif line.startswith("← "):
                found.append(("server", json.loads(line[2:])))
    return found


DOC_MESSAGES = doc_messages()


@pytest.mark.parametrize(
    ("origin", "raw"), DOC_MESSAGES, ids=[f"{o}-{r['type']}-{i}" for i, (o, r) in enumerate(DOC_MESSAGES)]
)
def test_doc_example_is_valid(origin: Origin, raw: dict[str, Any]) -> None:
    message = parse(raw, origin=origin)
    assert dump(message) == raw  # written the way the server writes it


def test_doc_shows_every_message_type() -> None:
    for origin in ORIGINS:
        shown = {raw["type"] for o, raw in DOC_MESSAGES if o == origin}
        assert shown == set(message_types(origin)), origin


def test_doc_turn_credentials_are_real() -> None:
    for _, raw in DOC_MESSAGES:
        for server in raw.get("ice_servers", []):
            if "username" in server:
                digest = hmac.new(
                    DOC_TURN_SECRET.encode(), server["username"].encode(), hashlib.sha1
                ).digest()
                assert server["credential"] == base64.b64encode(digest).decode(), server


def test_doc_error_table_matches_errors_py() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| ([^|]+) \|", DOC, flags=re.MULTILINE))
    for code, spec in ERRORS.items():
        if not spec.on_wire:
            assert f"`{code}`" in DOC
            continue
        assert code in rows, f"{code} missing from the error table"
        if spec.close_code is None:
            assert rows[code].strip().startswith("stays"), code
        else:
            assert f"closed {int(spec.close_code)}" in rows[code], code
    for code, spec in ERRORS.items():
        if spec.close_code is not None:
            assert re.search(rf"^\| {int(spec.close_code)} \| `{code}`", DOC, flags=re.MULTILINE), code


def test_doc_names_every_limit() -> None:
    names = [
        name
        for name in vars(limits)
        if name.isupper() and name not in ("PROTOCOL_VERSION", "SUPPORTED_VERSIONS")
    ]
    missing = [name for name in names if f"`{name}`" not in DOC]
    assert not missing


def test_doc_numbers_match_limits() -> None:
    assert limits.PROTOCOL_VERSION == 1 and "version **1**" in DOC
    for text in (
        "50/s sustained, bursts of 100",
        "the last 256",
        "5 min and 1 min before the end",
        "64 KiB (65 536 bytes)",
        "20 s (browsers answer by themselves)",
        "for | 45 s",
        "within | 10 s",
        "within | 30 s",
    ):
        assert text in DOC, text
    assert (limits.MESSAGE_RATE, limits.MESSAGE_BURST, limits.HISTORY_LIMIT) == (50, 100, 256)
    assert limits.MAX_MESSAGE_BYTES == 65536
    assert (limits.HEARTBEAT_INTERVAL, limits.IDLE_TIMEOUT, limits.AUTH_TIMEOUT) == (20, 45, 10)
    assert limits.RESUME_GRACE.total_seconds() == 30
    assert [m.total_seconds() for m in limits.COUNTDOWN_MARKS] == [300, 60]
    assert limits.JOIN_OPENS_BEFORE_START.total_seconds() == 300


PURE_MODULES = ["errors", "limits", "schema", "messages", "room", "turn", "ratelimit", "presence"]
FORBIDDEN = {"asyncio", "aiohttp", "aiortc", "aioice", "booth_server", "scheduler", "sqlalchemy", "pytz"}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_core_is_sans_io(module: str) -> None:
    import ast

    tree = ast.parse((ROOT / "webrtc" / f"{module}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
    assert "datetime.now" not in ast.unparse(tree) and "time.time" not in ast.unparse(
        tree
    )  # now is passed in


def test_doc_state_table_matches_transitions() -> None:
    from webrtc.room import REFUSALS, TRANSITIONS, Event, MemberState

    columns = [Event.JOIN, Event.SIGNAL, Event.DISCONNECT, Event.RESUME, Event.LEAVE, Event.GRACE_EXPIRED]
    rows = 0
    for state in MemberState:
        match = re.search(rf"^\| {state.value} \|(.+)\|$", DOC, flags=re.MULTILINE)
        assert match, state
        rows += 1
        cells = [cell.strip() for cell in match.group(1).split("|")]
        for event, cell in zip(columns, cells, strict=True):
            allowed = TRANSITIONS.get((state, event))
            if allowed is not None:
                first = "present" if cell.startswith("relayed") else cell.split()[0].rstrip(",")
                assert first == allowed.value, (state, event, cell)
            elif event is Event.GRACE_EXPIRED:
                assert cell == "–", (state, event, cell)
            else:
                assert cell == f"`{REFUSALS.get((state, event), 'not_in_room')}`", (state, event, cell)
    assert rows == len(MemberState)

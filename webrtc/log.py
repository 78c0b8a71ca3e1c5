"""Room log entries on the wire of a bus: compact JSON, instants as integer milliseconds (UTC).

An entry is the dict :class:`webrtc.core.SignallingCore` appends (``e`` is its kind, ``t`` its
instant); every node decodes the same bytes to the same dict, so every replica applies the same
event at the same instant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

#: The keys of an entry that hold instants.
INSTANT_KEYS = ("t", "start", "end")


def _ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def _instant(value: Any) -> int:
    if isinstance(value, datetime):
        return _ms(value)
    raise TypeError(f"a room log entry cannot hold {type(value).__name__}")


def encode_entry(entry: dict[str, Any]) -> bytes:
    # One pass of orjson, without copying the entry (every relayed signal is an entry): orjson
    # hands each instant to _instant. The instants of an entry are its INSTANT_KEYS.
    return orjson.dumps(entry, default=_instant, option=orjson.OPT_PASSTHROUGH_DATETIME)


def decode_entry(data: bytes | str) -> dict[str, Any]:
    entry: dict[str, Any] = orjson.loads(data)
    for key in INSTANT_KEYS:
        value = entry.get(key)
        if isinstance(value, int):
            entry[key] = datetime.fromtimestamp(value / 1000, UTC)
    return entry

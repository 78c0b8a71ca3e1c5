"""The protocol's JSON Schemas (draft 2020-12), loaded from ``webrtc/schemas`` and compiled once.

The schema files are the contract shared with the browser client; :mod:`webrtc.messages`
validates every incoming dict against them before it builds a dataclass.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from webrtc.errors import ProtocolError

Origin = Literal["client", "server"]

_MAX_DETAIL = 200


@cache
def load_all() -> dict[str, dict[str, Any]]:
    """Every schema file of the package, by file name."""
    folder = resources.files("webrtc.schemas")
    return {
        entry.name: json.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def index() -> dict[str, Any]:
    """``index.json``: ``index()["messages"][origin][type]`` is a schema file name."""
    return load_all()["index.json"]


@cache
def _registry() -> Registry[Any]:
    resources_ = [(s["$id"], Resource.from_contents(s)) for s in load_all().values()]
    return Registry().with_resources(resources_)


@cache
def validator(origin: Origin, message_type: str) -> Draft202012Validator | None:
    """The compiled validator of one message type, or None if the type is unknown."""
    name = index()["messages"][origin].get(message_type)
    if name is None:
        return None
    return Draft202012Validator(load_all()[name], registry=_registry())


def validate(raw: dict[str, Any], origin: Origin, message_type: str) -> None:
    """Raise ``ProtocolError("invalid_message", ..., path=...)`` unless ``raw`` fits its schema."""
    checker = validator(origin, message_type)
    assert checker is not None, message_type
    error = best_match(checker.iter_errors(raw))
    if error is not None:
        path = _pointer(error)
        raise ProtocolError("invalid_message", _describe(error, path), path=path)


def _pointer(error: ValidationError) -> str:
    """JSON pointer (RFC 6901) of the field at fault, down to a missing or extra property."""
    parts = [str(p) for p in error.absolute_path]
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [p for p in error.validator_value if p not in instance]
        parts += missing[:1]
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(str(k) for k in instance if k not in allowed)
        parts += extra[:1]
    elif error.validator == "dependentRequired" and isinstance(instance, dict):
        for present, needed in error.validator_value.items():
            missing = [p for p in needed if p not in instance]
            if present in instance and missing:
                parts.append(missing[0])
                break
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


# Messages are built from the rule, never from the value: a bad value may be a device key.
_RULES = {
    "type": "must be of type {value}",
    "const": "must be {value!r}",
    "enum": "must be one of {value}",
    "pattern": "does not have the expected format ({value})",
    "minLength": "must be at least {value} characters long",
    "maxLength": "must be at most {value} characters long",
    "minimum": "must be at least {value}",
    "maximum": "must be at most {value}",
    "minItems": "needs at least {value} items",
    "maxItems": "must have at most {value} items",
    "required": "is required",
    "additionalProperties": "is not a field of this message",
    "dependentRequired": "is required when the field it goes with is present",
}


def _describe(error: ValidationError, path: str) -> str:
    where = path or "the message"
    custom = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    if error.validator in ("anyOf", "oneOf", "not") and isinstance(custom, str):
        return f"{where}: {custom}"
    rule = _RULES.get(str(error.validator), "does not match the schema ({validator})")
    text = rule.format(value=error.validator_value, validator=error.validator)
    return f"{where}: {text}"[:_MAX_DETAIL]

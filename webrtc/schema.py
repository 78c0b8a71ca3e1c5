"""The protocol's JSON Schemas (draft 2020-12), loaded from ``webrtc/schemas`` and compiled once.

The schema files are the contract shared with the browser client; :mod:`webrtc.messages`
validates every incoming dict against them before it builds a dataclass.

The validator is ``jsonschema-rs`` (compiled, Rust): the server checks every relayed
candidate, and the pure-Python ``jsonschema`` cost 100 to 500 times more per message than
this (docs/media-testing.md, the relay benchmark). The cross-file ``$ref``\\s to ``common.json``
resolve through a registry of every schema file, built at load time: nothing is fetched.
A valid message costs one ``is_valid`` call; only a refused one is looked at in detail, to
pick the most relevant error (the heuristic of ``jsonschema.exceptions.best_match``) and say
which field is at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import urljoin

import jsonschema_rs

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
def _by_id() -> dict[str, dict[str, Any]]:
    return {document["$id"]: document for document in load_all().values()}


@cache
def _registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry(list(_by_id().items()))


@cache
def validator(origin: Origin, message_type: str) -> jsonschema_rs.Validator | None:
    """The compiled validator of one message type, or None if the type is unknown."""
    name = index()["messages"][origin].get(message_type)
    if name is None:
        return None
    return jsonschema_rs.Draft202012Validator(load_all()[name], registry=_registry())


def validators(origin: Origin, message_types: Iterable[str]) -> dict[str, jsonschema_rs.Validator]:
    """The compiled validator of each of ``message_types``, which must all be known."""
    found = {message_type: validator(origin, message_type) for message_type in message_types}
    unknown = sorted(message_type for message_type, checker in found.items() if checker is None)
    if unknown:
        raise KeyError(f"no {origin} schema for {', '.join(unknown)}")
    return {message_type: checker for message_type, checker in found.items() if checker is not None}


def validate(raw: dict[str, Any], origin: Origin, message_type: str) -> None:
    """Raise ``ProtocolError("invalid_message", ..., path=...)`` unless ``raw`` fits its schema."""
    checker = validator(origin, message_type)
    assert checker is not None, message_type
    try:
        try:
            if checker.is_valid(raw):
                return
            errors = _Error.wrap(checker.iter_errors(raw))
        except UnicodeEncodeError:
            # A lone surrogate ("\ud800", valid JSON) cannot cross into Rust's UTF-8 strings. It
            # is one character to the schema, like U+FFFD: check a copy with that in its place.
            raw = _without_lone_surrogates(raw)
            if checker.is_valid(raw):
                return
            errors = _Error.wrap(checker.iter_errors(raw))
    except ValueError:  # "Recursion limit reached": nested far deeper than any message goes
        raise ProtocolError("invalid_message", "the message is nested too deeply", path="") from None
    error = _best_match(errors, load_all()[index()["messages"][origin][message_type]]["$id"])
    assert error is not None, "is_valid said no, so there is an error"
    path = _pointer(error)
    raise ProtocolError("invalid_message", _describe(error, path), path=path)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


# --- choosing and describing the error of a refused message ---------------------------------


class _Error:
    """One ``jsonschema_rs.ValidationError`` with what the choice and the report need."""

    __slots__ = ("context", "evaluation_path", "instance", "keyword", "kind", "path", "schema", "value")

    def __init__(self, error: jsonschema_rs.ValidationError) -> None:
        self.path = tuple(error.instance_path)
        self.evaluation_path = tuple(error.evaluation_path)
        self.instance = error.instance
        self.kind = error.kind
        keyword = error.schema_path[-1] if error.schema_path else ""
        self.keyword = keyword if isinstance(keyword, str) else ""
        self.schema = _locate(error.absolute_keyword_location, self.keyword)
        self.value = self.schema.get(self.keyword) if isinstance(self.schema, dict) else None
        context = getattr(self.kind, "context", None) or ()
        self.context = [_Error(e) for branch in context for e in branch]

    @classmethod
    def wrap(cls, errors: Iterable[jsonschema_rs.ValidationError]) -> list[_Error]:
        return [cls(e) for e in errors]

    def matches_type(self) -> bool:
        expected = self.schema.get("type") if isinstance(self.schema, dict) else None
        if expected is None:
            return False
        names = [expected] if isinstance(expected, str) else expected
        return any(_is_type(self.instance, name) for name in names)


@lru_cache(maxsize=512)
def _locate(location: str | None, keyword: str) -> Any:
    """The schema object that holds ``keyword``, from the error's ``uri#/json/pointer``.

    The pointer may go on past the keyword (``dependentRequired/0``): it is cut at the
    keyword's last occurrence.
    """
    if not location:
        return {}
    uri, _, pointer = location.partition("#")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    if keyword in tokens:
        tokens = tokens[: len(tokens) - 1 - tokens[::-1].index(keyword)]
    else:
        tokens = tokens[:-1]
    node: Any = _by_id().get(uri, {})
    for token in tokens:
        node = node[int(token)] if isinstance(node, list) else node.get(token, {})
    return node


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kinds: dict[str, Any] = {"string": str, "object": dict, "array": list, "boolean": bool}
    if name == "null":
        return value is None
    return isinstance(value, kinds.get(name, ()))


_WEAK = frozenset({"anyOf", "oneOf"})


def _relevance(error: _Error) -> tuple[Any, ...]:
    # jsonschema.exceptions.relevance: shallower errors say more is wrong; anyOf/oneOf are weak.
    return (-len(error.path), error.path, error.keyword not in _WEAK, not error.matches_type())


def _best_match(errors: list[_Error], root: str) -> _Error | None:
    """``jsonschema.exceptions.best_match``: the most relevant error, then down into the
    deepest error of an ``anyOf``/``oneOf`` unless its branches fail alike.

    Among equally relevant errors the first wins, in the order ``jsonschema`` finds them (the
    schema's keyword order), so that a report does not depend on the validator's internals.
    """
    if not errors:
        return None
    best = max(sorted(errors, key=lambda e: _schema_order(root, e.evaluation_path)), key=_relevance)
    while best.context:
        ranked = sorted(
            sorted(best.context, key=lambda e: _schema_order(root, e.evaluation_path)), key=_relevance
        )
        if len(ranked) >= 2 and _relevance(ranked[0]) == _relevance(ranked[1]):
            return best
        best = ranked[0]
    return best


@lru_cache(maxsize=1024)
def _schema_order(root: str, evaluation_path: tuple[str | int, ...]) -> tuple[int, ...]:
    """Where the keyword of an error comes in its schema, following ``$ref``: each step of the
    path as its position among its siblings."""
    base, node = root, _by_id()[root]
    order: list[int] = []
    for token in evaluation_path:
        if isinstance(node, list) and isinstance(token, int) and token < len(node):
            order.append(token)
            node = node[token]
        elif isinstance(node, dict) and token in node:
            order.append(list(node).index(token))
            if token == "$ref" and isinstance(node["$ref"], str):
                base, node = _resolve(base, node["$ref"])
            else:
                node = node[token]
        else:
            order.append(-1)
            node = {}
        if isinstance(node, dict) and isinstance(node.get("$id"), str):
            base = urljoin(base, node["$id"])
    return tuple(order)


def _resolve(base: str, ref: str) -> tuple[str, Any]:
    uri, _, pointer = urljoin(base, ref).partition("#")
    node: Any = _by_id().get(uri, {})
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node.get(token, {})
    return uri, node


def _pointer(error: _Error) -> str:
    """JSON pointer (RFC 6901) of the field at fault, down to a missing or extra property."""
    parts = [str(p) for p in error.path]
    if error.keyword in ("required", "dependentRequired"):
        missing = getattr(error.kind, "property", None)
        if missing is not None:
            parts.append(str(missing))
    elif error.keyword == "additionalProperties":
        extra = sorted(str(k) for k in getattr(error.kind, "unexpected", ()) or ())
        parts += extra[:1]
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


def _describe(error: _Error, path: str) -> str:
    where = path or "the message"
    custom = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    if error.keyword in ("anyOf", "oneOf", "not") and isinstance(custom, str):
        return f"{where}: {custom}"
    rule = _RULES.get(error.keyword, "does not match the schema ({validator})")
    text = rule.format(value=error.value, validator=error.keyword)
    return f"{where}: {text}"[:_MAX_DETAIL]

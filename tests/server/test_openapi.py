"""The OpenAPI document matches the code: same routes, and real answers fit its schemas."""

from __future__ import annotations

from typing import Any

from jsonschema.validators import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from booth_server.app import openapi_document
from tests.conftest import booking, token_for


def _documented() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in openapi_document()["paths"].items() for method in item}


def _routed(app: Any) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None:
            continue
        if path.startswith(("/api/", "/feeds/")) or path == "/healthz":
            found.add((route.method, path))
    return found


async def test_every_api_route_is_documented_and_nothing_else(client) -> None:
    assert _routed(client.app) == _documented()


def _validator(schema_name: str) -> Draft202012Validator:
    document = openapi_document()
    registry: Registry[Any] = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(document))
    schema = {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


async def test_answers_fit_the_documented_schemas(client) -> None:
    headers = await token_for(client)
    response = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    _validator("Booking").validate(await response.json())
    conflict = await client.post("/api/v1/bookings", headers=headers, json=booking("2027-03-16T16:00:00Z"))
    _validator("Error").validate(await conflict.json())
    for venue in (await (await client.get("/api/v1/venues")).json())["venues"]:
        _validator("Venue").validate(venue)
    slots = (
        await (await client.get("/api/v1/availability?booths=1,3&from=2027-03-17&to=2027-03-17")).json()
    )["slots"]
    assert slots
    for slot in slots:
        _validator("Slot").validate(slot)

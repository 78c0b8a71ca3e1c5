"""Headers on every answer, errors and files included; files that hold secrets are private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.conftest import ADA, CANTINE_A, token_for

PATHS = [
    ("GET", "/api/v1/me", True),  # authenticated JSON
    ("GET", "/api/v1/bookings/1.ics", True),  # an authenticated download
    ("GET", "/api/v1/nowhere", False),  # a 404 from the router
    ("POST", "/api/v1/tokens", False),  # a 4xx from a handler (no body)
    ("GET", "/api/v1/venues", False),
    ("GET", "/feeds/organizer/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.ics", False),  # unknown token: 404
    ("GET", f"/feeds/booths/{CANTINE_A}.ics", False),
    ("GET", "/healthz", False),
    ("GET", "/", False),
    ("GET", "/static/style.css", False),
    ("GET", "/static/nothing.css", False),
]


@pytest.mark.parametrize(("method", "path", "authenticated"), PATHS)
async def test_every_answer_has_the_headers_and_names_no_version(client, method, path, authenticated) -> None:
    headers = await token_for(client, ADA) if authenticated else {}
    if path.endswith(".ics") and authenticated:
        made = await client.post(
            "/api/v1/bookings",
            headers=headers,
            json={"booths": [1, 3], "start": "2027-03-16T16:00:00Z", "duration_minutes": 60, "title": "t"},
        )
        assert made.status == 201
    response = await client.request(method, path, headers=headers)
    assert response.headers["Server"] == "Sebastian", (path, response.status)
    assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert response.headers["Referrer-Policy"] == "same-origin", path
    if path.startswith("/api/"):
        assert response.headers["Cache-Control"] == "no-store", (path, response.status)


async def test_the_database_and_the_secret_are_created_private(make_client, tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    await make_client(f"sqlite:///{database}")
    for path in (database, database.with_suffix(".secret"), Path(f"{database}-wal")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

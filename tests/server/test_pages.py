"""The pages and static files of the browser client: served from static/, strict CSP, cache
headers, the server's clock stamped in, no way out of static/; and the kiosk's display API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from booth_server.app import static_dir
from booth_server.pages import negotiate_language
from tests.conftest import ADA, ADMIN, CANTINE_A, SF_A, token_for

STATIC = Path(__file__).resolve().parents[2] / "static"


@pytest.mark.parametrize("path", ["/", "/kiosk", "/staff"])
async def test_pages_have_a_strict_policy_and_the_server_clock(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "media-src 'self' blob:" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    # The clock fixture: the page knows the server's (shifted) time, not the machine's.
    assert '<meta name="server-time" content="2027-03-01T12:00:' in text
    # No inline script or style anywhere: everything is a file of static/.
    assert not re.search(r"<script(?![^>]*\bsrc=)", text)
    assert "<style" not in text and " style=" not in text


async def test_static_files_revalidate_and_stay_inside_static(client: Any) -> None:
    response = await client.get("/static/booking.js")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]
    again = await client.get("/static/booking.js", headers={"If-None-Match": etag})
    assert again.status == 304
    assert (await client.get("/static/style.css")).headers["Content-Type"].startswith("text/css")
    for bad in (
        "/static/..%2Fsetup.cfg",
        "/static/.hidden.js",
        "/static/app.py",
        "/static/nothing.js",
        "/static/%2e%2e%2fbooth_server%2fapp.py",
    ):
        assert (await client.get(bad)).status == 404, bad


def test_every_module_the_pages_load_is_a_flat_file_of_static() -> None:
    """setup.cfg packages static/*.js|css|html|svg: a subfolder or a missing file would break
    ``pip install .``."""
    assert static_dir().resolve() == STATIC.resolve()
    wanted: set[str] = set()
    for page in STATIC.glob("*.html"):
        wanted |= set(re.findall(r'(?:src|href)="/static/([^"]+)"', page.read_text()))
    for module in STATIC.glob("*.js"):
        wanted |= set(re.findall(r"from '\./([^']+)'", module.read_text()))
    assert wanted and all("/" not in name and (STATIC / name).is_file() for name in wanted), wanted


def test_language_negotiation() -> None:
    assert negotiate_language("fr-FR,fr;q=0.9,en-US;q=0.8") == "fr"
    assert negotiate_language("en-US,en;q=0.9,fr;q=0.8") == "en"
    assert negotiate_language("de;q=1.0, fr;q=0.5") == "fr"
    assert negotiate_language("fr;q=0") == "en"
    assert negotiate_language("") == "en"


async def test_kiosk_display_api_needs_a_live_device_key(client: Any) -> None:
    ada = await token_for(client, ADA)
    booked = await client.post(
        "/api/v1/bookings",
        headers=ada,
        json={
            "booths": [CANTINE_A, SF_A],
            "start": "2027-03-01T16:00:00Z",
            "duration_minutes": 60,
            "title": "Demo day",
        },
    )
    assert booked.status == 201
    admin = await token_for(client, ADMIN)
    key = (await (await client.post(f"/api/v1/booths/{CANTINE_A}/device-key", headers=admin)).json())[
        "device_key"
    ]

    assert (await client.get("/api/v1/kiosk")).status == 401
    assert (await client.get("/api/v1/kiosk", headers={"Authorization": "Device dk_wrong"})).status == 401
    response = await client.get("/api/v1/kiosk", headers={"Authorization": f"Device {key}"})
    assert response.status == 200
    body = await response.json()
    assert body["booth"]["name"] == "Cantine A" and body["server_time"].startswith("2027-03-01T12:0")
    (session,) = body["sessions"]
    assert session["title"] == "Demo day" and session["organizer"]["company"] == "Analytical Engines SAS"
    assert [b["local"]["start"] for b in session["booths"]] == [
        "2027-03-01T17:00:00+01:00",
        "2027-03-01T08:00:00-08:00",
    ]

    assert (await client.delete(f"/api/v1/booths/{CANTINE_A}/device-key", headers=admin)).status == 204
    refused = await client.get("/api/v1/kiosk", headers={"Authorization": f"Device {key}"})
    assert refused.status == 401 and (await refused.json())["error"]["field"] == "device_key"

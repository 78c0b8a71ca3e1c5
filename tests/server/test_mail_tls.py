"""Mail over TLS: STARTTLS on ``smtp://`` and implicit TLS on ``smtps://``, with AUTH, against
an aiosmtpd server with a certificate signed by a CA made in the test (tests/server/tls_support.py).

The relay listens on 127.0.0.2: a loopback address, but not one the server exempts from
STARTTLS (127.0.0.1, ::1 and localhost are), so ``smtp://`` must upgrade. The server trusts the
test's CA through ``BOOTH_SMTP_CA_FILE``; without it, or for a certificate of another host, the
message is refused by the sender itself (retried, then ``failed`` with a clear error), and
nothing reaches the relay, not even in clear. The relay in those tests offers STARTTLS without
requiring it, so a sender that fell back to plain text would deliver, and the test would see it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from booth_server.keys import OUTBOX
from scheduler.outbox import OutboxEntry
from tests.conftest import booking, token_for
from tests.server.smtp_support import SmtpServer
from tests.server.test_mail import wait_until_async
from tests.server.tls_support import Certificates, certificates

FROM = "booths@sebastian.example"
RELAY = "127.0.0.2"
USER, PASSWORD = "booths@sebastian.example", "s3cret:pass"


@pytest.fixture
async def relay(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SmtpServer, Certificates]]:
    """A TLS relay on 127.0.0.2 and the CA of its certificate: ``scheme`` smtps (implicit TLS)
    or smtp (STARTTLS, required unless ``lenient``); ``cert_for``: the host its certificate
    names (127.0.0.2 unless told otherwise)."""
    options = dict(request.param)
    certs = certificates(tmp_path / "tls", hosts=(options.get("cert_for", RELAY),))
    server = SmtpServer(
        host=RELAY,
        tls=certs.server_context(),
        implicit_tls=options["scheme"] == "smtps",
        require_starttls=not options.get("lenient", False),
    )
    await server.start()
    yield server, certs
    await server.stop()


async def _given_up(make_client: Any, sqlite_url: str, smtp_url: str, **extra: Any) -> OutboxEntry:
    """Book through a server sending to ``smtp_url`` (two attempts a message); the organizer's
    invitation, once the sender has given up on it."""
    client = await make_client(
        sqlite_url, smtp_url=smtp_url, mail_from=FROM, mail_retry_seconds=0.05, mail_max_attempts=2, **extra
    )
    ada = await token_for(client)
    answer = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    booking_id = (await answer.json())["id"]

    async def failed() -> list[OutboxEntry]:
        return await client.app[OUTBOX].entries(booking_id=booking_id, status="failed")

    async def failed_count() -> int:
        return len(await failed())

    await wait_until_async(failed_count, 1)
    [entry] = await failed()
    return entry


def _url(relay: SmtpServer, *, password: bool) -> str:
    credentials = "booths%40sebastian.example" + (":s3cret%3Apass" if password else "")
    scheme = "smtps" if relay.implicit_tls else "smtp"
    return f"{scheme}://{credentials}@{relay.host}:{relay.port}"


@pytest.mark.parametrize(
    ("relay", "password_in"),
    [
        ({"scheme": "smtp"}, "url"),
        ({"scheme": "smtp"}, "file"),
        ({"scheme": "smtps"}, "url"),
        ({"scheme": "smtps"}, "file"),
    ],
    indirect=["relay"],
    ids=["starttls-url", "starttls-file", "smtps-url", "smtps-file"],
)
async def test_mail_goes_over_tls_with_auth_to_a_relay_signed_by_the_configured_ca(
    make_client: Any,
    sqlite_url: str,
    relay: tuple[SmtpServer, Certificates],
    password_in: str,
    tmp_path: Path,
) -> None:
    server, certs = relay
    server.users[USER] = PASSWORD
    extra: dict[str, Any] = {}
    if password_in == "file":
        password_file = tmp_path / "smtp.password"
        password_file.write_text(PASSWORD + "\n")
        extra["smtp_password_file"] = str(password_file)
    client = await make_client(
        sqlite_url,
        smtp_url=_url(server, password=password_in == "url"),
        smtp_ca_file=str(certs.ca_file),
        mail_from=FROM,
        **extra,
    )
    ada = await token_for(client)
    answer = await client.post("/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z"))
    assert answer.status == 201
    await server.wait_for(lambda: len(server.received) == 1)
    [received] = server.received
    assert received.tls  # over TLS, the STARTTLS relay refusing anything before it
    assert server.logins == [USER]
    assert received.mail_from == FROM


@pytest.mark.parametrize(
    ("relay", "trusted", "expected"),
    [
        ({"scheme": "smtp", "lenient": True}, False, "unable to get local issuer certificate"),
        ({"scheme": "smtps"}, False, "unable to get local issuer certificate"),
        ({"scheme": "smtp", "lenient": True, "cert_for": "127.0.0.1"}, True, "IP address mismatch"),
    ],
    indirect=["relay"],
    ids=["starttls-unknown-ca", "smtps-unknown-ca", "starttls-other-host"],
)
async def test_a_relay_whose_certificate_is_not_trusted_gets_nothing_not_even_in_clear(
    make_client: Any,
    sqlite_url: str,
    relay: tuple[SmtpServer, Certificates],
    trusted: bool,
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, certs = relay
    caplog.set_level(logging.WARNING, logger="booth_server.mail")
    extra = {"smtp_ca_file": str(certs.ca_file)} if trusted else {}
    entry = await _given_up(make_client, sqlite_url, server.url, **extra)
    error = entry.last_error or ""
    assert entry.attempts == 2, error
    assert error.startswith("TLS: the relay's certificate is not trusted (") and expected in error
    assert server.received == []
    retried = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    gave_up = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(entry.message_id in line and expected in line and "retrying" in line for line in retried)
    assert any(entry.message_id in line and "failed for good" in line for line in gave_up)


async def test_a_remote_relay_without_starttls_gets_nothing_in_clear(
    make_client: Any, sqlite_url: str
) -> None:
    relay = SmtpServer(host=RELAY)  # no TLS at all
    await relay.start()
    try:
        entry = await _given_up(make_client, sqlite_url, relay.url)
        assert "STARTTLS extension not supported" in (entry.last_error or ""), entry.last_error
        assert relay.received == []
    finally:
        await relay.stop()

"""A real SMTP server in the test process (aiosmtpd), and readers of what it received.

The server runs on the test's own event loop at 127.0.0.1 (or another loopback ``host``) on a
free port. It can refuse chosen recipients (``550``) and hold its final reply to DATA for a
while (``delay``): a real slow point between "the server has the message" and "the sender knows
it was taken". With ``tls`` (a server ``SSLContext``, tests/server/tls_support.py) it offers
STARTTLS, which ``require_starttls`` makes it insist on (AUTH needs it too), or with
``implicit_tls`` speaks TLS from the first byte (``smtps://``).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    #: The message came over TLS (implicit, or after STARTTLS).
    tls: bool = False

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class SmtpServer:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    #: Seconds to hold the final reply to DATA, after the message is recorded.
    delay: float = 0.0
    refused_count: int = 0
    #: With users, AUTH is required (PLAIN or LOGIN, over the loopback without TLS).
    users: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False
    require_starttls: bool = False
    _server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            self.refused_count += 1
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content, tls))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        starttls = self.tls if self.tls is not None and not self.implicit_tls else None
        tls_options: dict[str, Any] = {"tls_context": starttls, "require_starttls": self.require_starttls}

        def protocol() -> SMTP:
            if not self.users:
                return SMTP(self, hostname="smtp.test", loop=loop, **tls_options)
            # AUTH only after STARTTLS when the server offers it; aiosmtpd does not see implicit
            # TLS (the socket is TLS before it starts), and plain AUTH is on the loopback, on purpose.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return SMTP(
                    self,
                    hostname="smtp.test",
                    loop=loop,
                    authenticator=self._authenticate,
                    auth_required=True,
                    auth_require_tls=starttls is not None,
                    **tls_options,
                )

        listen_tls = self.tls if self.implicit_tls else None
        self._server = await loop.create_server(protocol, host=self.host, port=0, ssl=listen_tls)
        self.port = self._server.sockets[0].getsockname()[1]

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        if self.users.get(login) != password:
            return AuthResult(success=False, handled=False)
        self.logins.append(login)
        return AuthResult(success=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    async def wait_for(self, condition: Callable[[], Any], within: float = 10.0) -> None:
        """Poll ``condition`` until it is true, or fail after ``within`` seconds."""
        await wait_until(condition, within, f"the SMTP server ({len(self.received)} messages so far)")


async def wait_until(condition: Callable[[], Any], within: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until it is true, or fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {within} s waiting on {what}")
        await asyncio.sleep(0.02)


def parts(message: EmailMessage) -> list[tuple[str, EmailMessage]]:
    """Every leaf part with its content type, in order."""
    return [(part.get_content_type(), part) for part in message.walk() if not part.is_multipart()]


def text_of(message: EmailMessage, subtype: str = "plain") -> str:
    for content_type, part in parts(message):
        if content_type == f"text/{subtype}":
            return str(part.get_content())
    raise AssertionError(f"no text/{subtype} part")


def calendar_part(message: EmailMessage) -> tuple[str | None, bytes]:
    """(the ``method`` parameter, the bytes) of the inline ``text/calendar`` part."""
    for content_type, part in parts(message):
        if content_type == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return part.get_param("method"), payload  # type: ignore[return-value]
    raise AssertionError("no text/calendar part")


def attachment(message: EmailMessage) -> bytes:
    for part in message.iter_attachments():
        if part.get_filename() == "invite.ics":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError("no invite.ics attachment")

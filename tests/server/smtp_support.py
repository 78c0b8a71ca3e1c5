"""A real SMTP server in the test process (aiosmtpd), and readers of what it received.

The server runs on the test's own event loop at 127.0.0.1 on a free port. It can refuse
chosen recipients (``550``) and hold its final reply to DATA for a while (``delay``): a real
slow point between "the server has the message" and "the sender knows it was taken".
"""

from __future__ import annotations

import asyncio
import email
import email.policy
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
    _server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

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
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> SMTP:
            if not self.users:
                return SMTP(self, hostname="smtp.test", loop=loop)
            with warnings.catch_warnings():  # AUTH without TLS: on the loopback, on purpose
                warnings.simplefilter("ignore", UserWarning)
                return SMTP(
                    self,
                    hostname="smtp.test",
                    loop=loop,
                    authenticator=self._authenticate,
                    auth_required=True,
                    auth_require_tls=False,
                )

        self._server = await loop.create_server(protocol, host="127.0.0.1", port=0)
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

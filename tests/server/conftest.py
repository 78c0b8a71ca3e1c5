"""Fixtures of the server tests: a real SMTP server in the test process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.server.smtp_support import SmtpServer


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()

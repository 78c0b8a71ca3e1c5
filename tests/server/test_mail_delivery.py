"""The outbox never loses a committed change's message, and never sends one twice at once.

* A ``booth-server`` process is killed with SIGKILL while the SMTP server holds its final reply
  to a message it has received (the real slow point between "the server has it" and "the
  sender stored that it was sent"). The next process sends that message again, same bytes and
  same ``Message-ID`` (at least once), and every other message of the committed bookings too.
* A node is killed with SIGKILL after a booking's commit, while it holds the booking's intent
  and waits (on a lock the test holds) to store the messages it composed: the intent is still
  due, and the next process composes and sends them, once.
* Two nodes on one PostgreSQL database compose and send the same outbox at once: ``FOR UPDATE
  SKIP LOCKED`` gives each intent and each message to one of them, so every change is composed
  once and no message arrives twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from booth_server.keys import DATABASE, OUTBOX
from tests.conftest import ADA, ADMIN, CANTINE_A, CANTINE_B, DEMO_PASSWORD, SF_A, SF_B, booking, token_for
from tests.server.smtp_support import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
FROM = "booths@sebastian.example"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``booth-server`` in a process of its own, on the test's database and SMTP server."""

    def __init__(self, database: str, smtp: SmtpServer, tmp: Path) -> None:
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BOOTH_")} | {
            "PYTHONPATH": str(ROOT),
            "BOOTH_DATABASE": database,
            "BOOTH_PORT": str(self.port),
            "BOOTH_DEMO": "true",
            "BOOTH_CLOCK_START": "2027-03-01T12:00:00Z",
            "BOOTH_SECRET_FILE": str(tmp / "server.secret"),
            "BOOTH_SMTP_URL": smtp.url,
            "BOOTH_MAIL_FROM": FROM,
        }
        self.log = tmp / "server.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "booth_server.cli", env=self.env, stdout=log, stderr=log
            )

        async def ready() -> bool:
            try:
                async with http.get(f"{self.origin}/healthz") as answer:
                    return answer.status == 200
            except aiohttp.ClientError:
                assert self.process is not None and self.process.returncode is None, self.log.read_text()
                return False

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await ready():
            if loop.time() > deadline:
                pytest.fail(f"booth-server did not start: {self.log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        """SIGTERM: a stopping server may first answer /readyz 503 for a while (a drain)."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                raise


async def _token(http: aiohttp.ClientSession, origin: str, email: str) -> dict[str, str]:
    async with http.post(
        f"{origin}/api/v1/tokens", json={"email": email, "password": DEMO_PASSWORD}
    ) as answer:
        assert answer.status == 201, await answer.text()
        return {"Authorization": f"Bearer {(await answer.json())['token']}"}


async def test_a_sender_killed_between_send_and_mark_sends_again_with_the_same_message_id(
    database_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    smtp_server.delay = 60.0  # holds the final reply: the process dies before it hears "250"
    server = ServerProcess(database_url, smtp_server, tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            await server.start(http)
            ada = await _token(http, server.origin, ADA)
            starts = ("2027-03-16T16:00:00Z", "2027-03-17T16:00:00Z", "2027-03-18T16:00:00Z")
            for start in starts:
                async with http.post(
                    f"{server.origin}/api/v1/bookings", headers=ada, json=booking(start)
                ) as answer:
                    assert answer.status == 201, await answer.text()
            await smtp_server.wait_for(lambda: len(smtp_server.received) == 1)
            in_flight = smtp_server.received[0].message_id
            await server.kill()

            smtp_server.delay = 0.0
            await server.start(http)
            await smtp_server.wait_for(lambda: len(smtp_server.received) == 4, within=20)
            admin = await _token(http, server.origin, ADMIN)

            async def outbox(status: str) -> list[dict[str, Any]]:
                url = f"{server.origin}/api/v1/venues/1/outbox?status={status}"
                async with http.get(url, headers=admin) as answer:
                    return list((await answer.json())["messages"])

            async def all_sent() -> bool:
                return len(await outbox("sent")) == 3

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not await all_sent():
                assert loop.time() < deadline, await outbox("sending") + await outbox("pending")
                await asyncio.sleep(0.05)
            sent = await outbox("sent")
    finally:
        await server.stop()

    counts = Counter(r.message_id for r in smtp_server.received)
    assert counts[in_flight] == 2  # sent again after the crash ...
    first, again = (r for r in smtp_server.received if r.message_id == in_flight)
    assert first.data == again.data  # ... the very same message
    # Every invitation of the three committed bookings arrived; only the one in flight twice.
    assert set(counts) == {m["message_id"] for m in sent}
    assert sorted(counts.values()) == [1, 1, 2]
    assert all(m["attempts"] == 1 for m in sent)  # the dead process never stored its attempt


@pytest.mark.postgres
async def test_two_nodes_sending_one_outbox_never_send_a_message_twice(
    make_client: Any, postgres_url: str, smtp_server: SmtpServer
) -> None:
    smtp_server.delay = 0.01  # each send takes a while, so both nodes are busy at once
    nodes = [
        await make_client(postgres_url, smtp_url=smtp_server.url, mail_from=FROM, mail_retry_seconds=0.05)
        for _ in range(2)
    ]
    # The admin books past opening hours and quotas with a reason: sixteen sessions in one week.
    tokens = [await token_for(node, ADMIN) for node in nodes]
    guests = [f"guest{n}@guests.example" for n in range(3)]
    pairs = ((CANTINE_A, SF_A), (CANTINE_B, SF_B))
    count = 0
    for day in range(16, 20):
        for hour in (9, 11, 13, 15):
            node = count % 2
            body = booking(
                f"2027-03-{day}T{hour:02d}:00:00Z", booths=pairs[node], guests=guests, override_reason="load"
            )
            answer = await nodes[node].post("/api/v1/bookings", headers=tokens[node], json=body)
            assert answer.status == 201, await answer.text()
            count += 1
    expected = count * (1 + len(guests))

    outbox = nodes[0].app[OUTBOX]

    async def settled() -> bool:
        return not [
            e for e in await outbox.entries(limit=1000) if e.kind != "reminder" and e.status != "sent"
        ]

    await smtp_server.wait_for(lambda: len(smtp_server.received) >= expected, within=60)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not await settled():
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0)  # nothing more may arrive: every message is marked sent
    ids = [r.message_id for r in smtp_server.received]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    invitations = {e.message_id for e in await outbox.entries(limit=1000) if e.kind == "invitation"}
    assert set(ids) == invitations and len(ids) == expected
    async with nodes[0].app[DATABASE].read() as session:
        intents = (await session.execute(text("SELECT status, attempts, last_error FROM mail_intents"))).all()
    assert [tuple(row) for row in intents] == [("composed", 1, None)] * count  # each composed once


@pytest.mark.postgres
async def test_a_node_killed_while_composing_leaves_the_change_to_compose_again(
    postgres_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """SIGKILL after the booking's commit, while its messages are composed and wait to be
    stored: the intent was locked, not marked, so the next process composes and sends them."""
    import asyncpg

    server = ServerProcess(postgres_url, smtp_server, tmp_path)
    blocker = await asyncpg.connect(postgres_url.replace("postgresql://", "postgres://", 1))
    try:
        async with aiohttp.ClientSession() as http:
            await server.start(http)
            ada = await _token(http, server.origin, ADA)
            # The sender may insert nothing into the outbox: its composition waits on this lock.
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute("LOCK TABLE mail_outbox IN EXCLUSIVE MODE")
            async with http.post(
                f"{server.origin}/api/v1/bookings", headers=ada, json=booking("2027-03-16T16:00:00Z")
            ) as answer:
                assert answer.status == 201, await answer.text()  # committed: it writes no message
                booking_id = (await answer.json())["id"]

            async def composing_waits() -> bool:
                """The sender holds composed messages and waits for the lock to store them."""
                waiting = await blocker.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'mail_outbox'::regclass"
                )
                return bool(waiting)

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not await composing_waits():
                assert loop.time() < deadline, "the sender never tried to store the composed messages"
                await asyncio.sleep(0.02)
            # ... and it is this booking's intent that the sender holds while it waits.
            free = await blocker.fetch(
                "SELECT id FROM mail_intents WHERE booking_id = $1 FOR UPDATE SKIP LOCKED", booking_id
            )
            assert free == []
            await server.kill()
            await lock.rollback()
            state = await blocker.fetch(
                "SELECT status, attempts FROM mail_intents WHERE booking_id = $1", booking_id
            )
            assert [tuple(row) for row in state] == [("pending", 0)]
            assert await blocker.fetchval("SELECT count(*) FROM mail_outbox") == 0

            await server.start(http)
            await smtp_server.wait_for(lambda: len(smtp_server.received) == 1)
    finally:
        await server.stop()
        await blocker.close()
    state = await _intent_state(postgres_url, booking_id)
    assert state == [("composed", 1)]  # the dead process never stored its attempt
    [received] = smtp_server.received
    assert received.rcpt_tos == [ADA] and "Invitation: Pitch" in str(received.message["Subject"])


async def _intent_state(url: str, booking_id: int) -> list[tuple[str, int]]:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        rows = await connection.fetch(
            "SELECT status, attempts FROM mail_intents WHERE booking_id = $1", booking_id
        )
        return [(row["status"], row["attempts"]) for row in rows]
    finally:
        await connection.close()

"""What the mail outbox costs: messages per second, and a booking request's latency. Not a test.

    python bench/bench_mail.py [--messages 400] [--requests 150] [--runs 3] [--postgres URL]

One run, everything on loopback, the SMTP server (aiosmtpd) in this process:

* **Throughput.** Baseline: a bare aiosmtplib loop sending ``--messages`` ready messages over
  one connection. Outbox: the same number of messages written to the outbox, then sent by the
  server's own sender (``MailSender.send_due``: claim a batch, send it, store the outcomes), to
  the same server over the same kind of connection. Both in messages per second, median of
  ``--runs``, and their ratio. On SQLite, and on PostgreSQL with ``--postgres`` (an empty
  database the benchmark may fill).
* **Booking latency.** Two apps (``create_app``), each a server process of its own on a fresh
  SQLite database, both sending to the SMTP server: one as shipped, whose every booking writes
  its intent in the booking's transaction and whose sender then composes its messages (2
  invitations and 4 reminders scheduled, for a booking with one guest) and sends the
  invitations; one without the outbox writer, as before mail existed. ``--requests`` booking
  requests over HTTP to each, two ways; median and 90th percentile, and the ratio (goal: within
  10 %):

  - one at a time, interleaved between the apps, each once the mail of the one before is
    composed, sent and stored as sent: the latency a user sees on a server not otherwise busy;
  - back to back, in blocks of 10 requests per app (alternating, the mail settled between
    blocks), so an app's composing and sending compete with its own next requests: the cost of
    the whole mail path under load, on these 2 cores shared with the other app, this process
    and its SMTP server.
* ``os.cpu_count()``: these machines have 2 noisy cores; compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
import aiosmtplib  # noqa: E402
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from aiosmtpd.smtp import SMTP, Envelope, Session  # noqa: E402
from bench_relay import Server  # noqa: E402

from booth_server.app import create_app  # noqa: E402
from booth_server.clock import Clock  # noqa: E402
from booth_server.config import Config  # noqa: E402
from booth_server.keys import DATABASE, STORE  # noqa: E402
from booth_server.mail import MailSender, SmtpTransport  # noqa: E402
from scheduler.database import Database  # noqa: E402
from scheduler.mail import MailKind, OutgoingMail, Recipient, Sender, build_message  # noqa: E402
from scheduler.outbox import Outbox  # noqa: E402

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
FROM = "booths@sebastian.example"
ADMIN = "admin@demo.sebastian.example"
PASSWORD = "sister-cities-demo"


class CountingHandler:
    def __init__(self) -> None:
        self.count = 0
        #: SMTP connections open: a sender closes its connection when it has nothing left to send.
        self.connections = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 OK"


class CountingSMTP(SMTP):
    def __init__(self, handler: CountingHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.counter = handler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the STARTTLS upgrade of a connection already counted
            self.counter.connections += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.counter.connections -= 1
        super().connection_lost(error)


async def smtp_server(handler: CountingHandler) -> tuple[asyncio.AbstractServer, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountingSMTP(handler, hostname="bench", loop=loop), "127.0.0.1", 0
    )
    return server, server.sockets[0].getsockname()[1]


def sample_messages(count: int) -> list[OutgoingMail]:
    """Messages the size of a real invitation (about 6 KB with text, HTML and two calendars)."""
    text = "Paris: Tuesday 16 March 2027, 17:00–18:00 (UTC+01:00)\n" * 20
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:bench@sebastian\r\nDTSTAMP:20270301T120000Z\r\n"
        "DTSTART:20270316T160000Z\r\nDTEND:20270316T170000Z\r\nSUMMARY:Pitch\r\n"
        + "DESCRIPTION:" + "x" * 60 + "\r\n" * 1
        + "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()  # fmt: skip
    out = []
    for n in range(count):
        recipient = Recipient(f"guest{n}@bench.example", f"Guest {n}")
        message_id = f"<bench-{n}-{time.monotonic_ns()}@sebastian.example>"
        raw = build_message(
            sender=Sender(FROM),
            recipient=recipient,
            subject="Invitation: Pitch",
            text=text,
            html_text=f"<p>{text}</p>",
            now=NOW,
            message_id=message_id,
            calendar=calendar,
            method="REQUEST",
        )
        out.append(
            OutgoingMail(MailKind.INVITATION, 1, 0, recipient.email, "Invitation", message_id, raw, NOW)
        )
    return out


async def bare_loop(port: int, messages: list[OutgoingMail]) -> float:
    start = time.perf_counter()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await client.connect()
    for mail in messages:
        assert mail.message is not None
        await client.sendmail(FROM, [mail.recipient], mail.message)
    await client.quit()
    return len(messages) / (time.perf_counter() - start)


async def outbox_loop(database: Database, port: int, messages: list[OutgoingMail]) -> float:
    """Write the messages to the outbox (one transaction), then time the sender sending them."""
    outbox = Outbox(database)
    config = Config(database=database.url, smtp_url=f"smtp://127.0.0.1:{port}", mail_from=FROM)
    async with database.write() as session:
        # The outbox rows point at a booking; any existing booking id will do for the bench.
        await Outbox.write(session, messages, NOW, replace_reminders_of=None)
    smtp = config.smtp()
    assert smtp is not None
    sender = MailSender(outbox, SmtpTransport(smtp, FROM), Clock(NOW), config)
    start = time.perf_counter()
    sent = await sender.send_due()
    elapsed = time.perf_counter() - start
    assert sent == len(messages), (sent, len(messages))
    return len(messages) / elapsed


async def booking_database(url: str) -> Database:
    """A migrated database holding one booking (id 1) for the outbox rows to refer to."""
    app = create_app(Config(database=url, demo=True, maildir=tempfile.mkdtemp()), clock=Clock(NOW))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    token = await admin_token(client)
    await client.post("/api/v1/bookings", headers=token, json=booking_body(0))
    outbox = Outbox(app[DATABASE])
    for _ in range(3000):  # the app's own sender composes the invitations, then writes them to its maildir
        invitations = [e for e in await outbox.entries() if e.kind != "reminder"]
        if invitations and all(e.status == "sent" for e in invitations):
            break
        await asyncio.sleep(0.01)
    await client.close()
    database = Database(url)
    return database


async def admin_token(client: TestClient[Any, Any]) -> dict[str, str]:
    answer = await client.post("/api/v1/tokens", json={"email": ADMIN, "password": PASSWORD})
    return {"Authorization": f"Bearer {(await answer.json())['token']}"}


def booking_body(n: int) -> dict[str, Any]:
    start = NOW + timedelta(days=14, minutes=90 * n)
    return {
        "booths": [1, 3],
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_minutes": 60,
        "title": f"Pitch {n}",
        "guests": ["grace@guests.example"],
        "override_reason": "benchmark",
    }


async def throughput(args: argparse.Namespace, url: str, label: str) -> None:
    handler = CountingHandler()
    server, port = await smtp_server(handler)
    database = await booking_database(url)
    bare, outbox = [], []
    try:
        for _ in range(args.runs):
            bare.append(await bare_loop(port, sample_messages(args.messages)))
            outbox.append(await outbox_loop(database, port, sample_messages(args.messages)))
    finally:
        await database.dispose()
        server.close()
    b, o = statistics.median(bare), statistics.median(outbox)
    print(f"throughput, {label}, {args.messages} messages, median of {args.runs}:")
    print(f"  bare aiosmtplib loop      {b:8.0f} msg/s")
    print(f"  through the outbox        {o:8.0f} msg/s   ({o / b:.2f}× the bare loop)")


def serve_app(database: str, port: int, smtp_port: int, secret: str, without_outbox: bool) -> None:
    """One app as a server of its own (``--serve``): as shipped, or without the outbox writer."""
    config = Config(
        database=database,
        demo=True,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        mail_from=FROM,
        secret_file=secret,
        selftest=False,
        log_level="WARNING",
    )
    app = create_app(config, clock=Clock(NOW))
    if without_outbox:

        async def drop_the_writer(app: web.Application) -> None:
            # After the mail setup registered it: what a booking cost before mail existed.
            app[STORE]._in_transaction.clear()

        app.on_startup.append(drop_the_writer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def mail_in_flight(database: Path) -> int:
    """Intents not composed and invitations not yet stored as sent, in the app with the outbox."""
    pending_intents = "SELECT count(*) FROM mail_intents WHERE status = 'pending'"
    unsent = "SELECT count(*) FROM mail_outbox WHERE kind != 'reminder' AND status IN ('pending', 'sending')"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        try:
            intents = connection.execute(pending_intents).fetchone()[0]
        except sqlite3.OperationalError:  # a version before intents (to compare with): none
            intents = 0
        return int(intents) + int(connection.execute(unsent).fetchone()[0])


async def latency(args: argparse.Namespace) -> None:
    handler = CountingHandler()
    smtp, smtp_port = await smtp_server(handler)
    tmp = Path(tempfile.mkdtemp())
    secret = tmp / "secret"  # written before the servers start: both would create it at once
    secret.write_text(secrets.token_hex(32))
    secret.chmod(0o600)
    servers = []
    for name in ("with", "without"):
        command = [
            sys.executable,
            __file__,
            "--serve",
            str(tmp / f"{name}.db"),
            str(smtp_port),
            str(secret),
        ]
        servers.append(Server(name, command + (["--without-outbox"] if name == "without" else [])))
    booked = sent_by_with = 0
    quiet: dict[int, list[float]] = {0: [], 1: []}
    busy: dict[int, list[float]] = {0: [], 1: []}
    try:
        async with aiohttp.ClientSession() as http:
            tokens = []
            for server in servers:
                await server.ready(http)
                async with http.post(
                    f"{server.url}/api/v1/tokens", json={"email": ADMIN, "password": PASSWORD}
                ) as answer:
                    tokens.append({"Authorization": f"Bearer {(await answer.json())['token']}"})

            async def book(index: int) -> float:
                nonlocal booked, sent_by_with
                booked += 1
                start = time.perf_counter()
                async with http.post(
                    f"{servers[index].url}/api/v1/bookings", headers=tokens[index], json=booking_body(booked)
                ) as answer:
                    body = await answer.read()
                elapsed = time.perf_counter() - start
                assert answer.status == 201, body
                sent_by_with += 2 if index == 0 else 0
                return elapsed

            async def settled() -> None:
                """Until the app with the outbox has composed and sent every invitation (2 a
                booking) so far, stored that it did and closed its SMTP connection: its sender
                has nothing left to do."""
                deadline = time.monotonic() + 10
                while handler.count < sent_by_with or handler.connections or mail_in_flight(tmp / "with.db"):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{sent_by_with - handler.count} invitations not sent after 10 s")
                    await asyncio.sleep(0.002)

            # One request at a time on a settled server: what a user waits for.
            for n in range(args.requests):
                for index in (0, 1) if n % 2 else (1, 0):
                    quiet[index].append(await book(index))
                    await settled()
            # Back to back, blocks of 10 per app: an app's mail work competes with its next requests.
            for n in range(args.requests // 10):
                for index in (0, 1) if n % 2 else (1, 0):
                    busy[index].extend([await book(index) for _ in range(10)])
                    await settled()
    finally:
        for server in servers:
            server.stop()
        smtp.close()

    def p90(values: list[float]) -> float:
        return sorted(values)[int(len(values) * 0.9)]

    for label, times in (
        ("one at a time, mail settled in between", quiet),
        ("back to back, blocks of 10", busy),
    ):
        with_mail, without = statistics.median(times[0]), statistics.median(times[1])
        print(f"booking request latency, SQLite, {label}, {len(times[0])} requests each:")
        print(
            f"  without the outbox        median {without * 1000:6.2f} ms   p90 {p90(times[1]) * 1000:6.2f} ms"
        )
        print(
            f"  with the outbox           median {with_mail * 1000:6.2f} ms   p90 {p90(times[0]) * 1000:6.2f} ms"
            f"   ({with_mail / without:.2f}× ; goal ≤ 1.10×)"
        )
    print(f"  messages the SMTP server received meanwhile: {handler.count}")


async def main(args: argparse.Namespace) -> None:
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp())
    await throughput(args, f"sqlite:///{tmp / 'throughput.db'}", "SQLite")
    if args.postgres:
        await throughput(args, args.postgres, "PostgreSQL")
    await latency(args)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database to fill")
    parser.add_argument("--serve", nargs=3, metavar=("DB", "SMTP_PORT", "SECRET"), help=argparse.SUPPRESS)
    parser.add_argument("--without-outbox", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        database, smtp_port, secret = args.serve
        serve_app(f"sqlite:///{database}", args.port, int(smtp_port), secret, args.without_outbox)
        return
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()

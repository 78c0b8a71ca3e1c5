"""Mail: the outbox writer inside every booking change, and the task that sends the outbox.

* :func:`setup` registers :func:`write_mail` with the store, so each booking change writes its
  messages (:func:`scheduler.mail.plan`) in its own transaction, and starts the sender task.
* The sender claims due messages in small batches (:meth:`scheduler.outbox.Outbox.claim`),
  sends them and stores their outcomes; it wakes at once after a committed change (the booking service's
  subscription), when the clock is moved, when the next message falls due, and every
  :data:`POLL_SECONDS` for messages written by another node.
* A message that fails is retried after ``mail_retry_seconds`` × 4ⁿ (n: attempts so far),
  and after ``mail_max_attempts`` it is marked ``failed``, which staff see in the outbox.
* Transports: SMTP through aiosmtplib (``BOOTH_SMTP_URL``; one connection kept while there is
  work), or, with no SMTP configured, a maildir next to the database (``mailbox.Maildir``: a
  file per message in ``new/``, written to ``tmp/`` first), so the quick start needs no server.

Delivery is at least once: if the process dies after the SMTP server took a message and before
its outcome is stored, the message is sent again, the same bytes with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mailbox
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from aiohttp import web

from scheduler.changes import BookingChanged, ChangeKind
from scheduler.mail import Links, Recipient, Sender, guest_addresses, plan
from scheduler.outbox import Addressee, ClaimedMail, Outbox
from webrtc.waiting import wait_set

from .clock import Clock
from .config import Config, SmtpSettings
from .keys import BOOKINGS, CLOCK, CONFIG, DATABASE, OUTBOX, SERVER_SECRET, STORE

log = logging.getLogger(__name__)

#: How often the sender looks for messages another node wrote, or that fell due meanwhile.
POLL_SECONDS = 30.0
SMTP_TIMEOUT = 60.0


class Transport(Protocol):
    async def send(self, mail: ClaimedMail) -> None: ...

    async def idle(self) -> None:
        """No more work for now: let go of connections."""


class SmtpTransport:
    """aiosmtplib, one connection reused across messages until the outbox is empty."""

    def __init__(self, settings: SmtpSettings, envelope_from: str) -> None:
        self.settings = settings
        self.envelope_from = envelope_from
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.implicit_tls,
            start_tls=True if s.require_starttls else None,
            timeout=SMTP_TIMEOUT,
        )
        await client.connect()
        if s.username is not None and s.password is not None:
            await client.login(s.username, s.password)
        return client

    async def send(self, mail: ClaimedMail) -> None:
        if self._client is None or not self._client.is_connected:
            self._client = await self._connect()
        try:
            await self._client.sendmail(self.envelope_from, [mail.recipient], mail.message)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            raise  # the server refused this message; the connection is still good
        except BaseException:
            await self.idle()
            raise

    async def idle(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            with contextlib.suppress(Exception):
                await client.quit()
            client.close()


class MaildirTransport:
    """Each message as a file in a maildir: the embedded default, no mail server needed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # mailbox.Maildir(create=True) makes tmp/, new/ and cur/ only when the directory itself
        # is new; an existing empty directory (BOOTH_MAILDIR made beforehand) needs them too.
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._box = mailbox.Maildir(path, create=False)

    async def send(self, mail: ClaimedMail) -> None:
        await asyncio.to_thread(self._box.add, mail.message)

    async def idle(self) -> None:
        return None


def default_maildir(database_url: str) -> Path:
    """Beside the SQLite file of the embedded default; in the working directory otherwise."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix):
        return Path(database_url[len(prefix) :]).with_suffix(".maildir")
    return Path("sebastian.maildir")


def transport_for(config: Config) -> Transport:
    smtp = config.smtp()
    if smtp is not None:
        log.info(
            "mail: sending through %s://%s:%d as %s",
            "smtps" if smtp.implicit_tls else "smtp",
            smtp.host,
            smtp.port,
            config.sender()[1],
        )
        return SmtpTransport(smtp, config.sender()[1])
    path = Path(config.maildir) if config.maildir else default_maildir(config.database)
    log.info(
        "mail: no BOOTH_SMTP_URL, so messages are written to the maildir %s (read it with "
        "`mutt -f %s`; docs/mail.md says how to send through SMTP)",
        path.resolve(),
        path.resolve(),
    )
    return MaildirTransport(path)


def retry_at(attempts: int, now: datetime, config: Config) -> datetime | None:
    """When to try again after ``attempts`` failed tries, or None: give up, mark it failed."""
    if attempts >= config.mail_max_attempts:
        return None
    return now + timedelta(seconds=config.mail_retry_seconds * 4 ** (attempts - 1))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP {exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class MailSender:
    """The sender task of one node."""

    def __init__(self, outbox: Outbox, transport: Transport, clock: Clock, config: Config) -> None:
        self.outbox = outbox
        self.transport = transport
        self.clock = clock
        self.config = config
        self.wake = asyncio.Event()
        self.stopping = False

    async def send_due(self) -> int:
        """Send every message due now; returns how many were tried."""
        tried = 0
        while not self.stopping:
            async with self.outbox.claim(self.clock.now()) as batch:
                for mail in batch:
                    await self._send(mail)
            if not batch:
                break
            tried += len(batch)
        if tried:
            await self.transport.idle()
        return tried

    async def _send(self, mail: ClaimedMail) -> None:
        try:
            await self.transport.send(mail)
        except Exception as exc:
            error = _describe(exc)
            again = retry_at(mail.attempts + 1, self.clock.now(), self.config)
            if again is None:
                mail.failed(error)
                log.error("mail %s to %s failed for good: %s", mail.message_id, mail.recipient, error)
            else:
                mail.retry(error, again)
                log.warning("mail %s to %s: %s; retrying", mail.message_id, mail.recipient, error)
        else:
            mail.sent(self.clock.now())

    async def stop(self, task: asyncio.Task[None]) -> None:
        """Let the batch in hand finish (its outcomes stored), then end; cancel after 10 s."""
        self.stopping = True
        self.wake.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            pass  # wait_for cancelled it: at least once, the batch is sent again later

    async def _pause(self) -> None:
        timeout = POLL_SECONDS
        due = await self.outbox.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self.clock.now()).total_seconds()))
        await wait_set(self.wake, timeout)
        self.wake.clear()

    async def run(self) -> None:
        while not self.stopping:
            try:
                await self.send_due()
                await self._pause()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.stopping:
                    return
                log.exception("the mail sender failed; trying again in %s s", POLL_SECONDS)
                await wait_set(self.wake, POLL_SECONDS)
                self.wake.clear()


def _recipient(email: str, found: dict[str, Addressee], language: str, *, organizer: bool) -> Recipient:
    account = found.get(email.lower())
    if account is None:  # a guest without an account: the organizer's language, no zone
        return Recipient(email, "", language, None, organizer)
    settings = account.settings
    return Recipient(email, account.name, settings.language, settings.timezone, organizer)


def write_mail_handler(sender: Sender, links: Links) -> Any:
    """The in-transaction handler: ``(session, event)`` writes the change's messages."""

    async def write_mail(session: Any, event: BookingChanged) -> None:
        view = event.booking
        guests = guest_addresses(view)
        before = guest_addresses(event.before)
        found = await Outbox.addressees(session, [view.organizer_email, *guests, *before])
        organizer = _recipient(view.organizer_email, found, "en", organizer=True)
        language = organizer.language
        recipients = [organizer] + [_recipient(g, found, language, organizer=False) for g in guests]
        removed = [_recipient(g, found, language, organizer=False) for g in before if g not in guests]
        mails = plan(event, recipients, removed, sender, links)
        replace = None if event.kind is ChangeKind.CREATED else view.id
        await Outbox.write(session, mails, event.at, replace_reminders_of=replace)

    return write_mail


async def _mail(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    outbox = Outbox(app[DATABASE])
    app[OUTBOX] = outbox
    if app[DATABASE].is_sqlite:
        released = await outbox.release_claims()
        if released:
            log.warning("mail: %d message(s) claimed by a stopped process will be sent again", released)
    name, address = config.sender()
    sender = MailSender(outbox, transport_for(config), app[CLOCK], config)
    links = Links(config.origin, app[SERVER_SECRET])
    app[STORE].on_change_in_transaction(write_mail_handler(Sender(address, name), links))

    async def wake(_event: BookingChanged) -> None:
        sender.wake.set()

    unsubscribe = app[BOOKINGS].subscribe(wake)
    stop_listening = app[CLOCK].on_advance(sender.wake.set)
    task = asyncio.create_task(sender.run(), name="mail-sender")
    yield
    unsubscribe()
    stop_listening()
    await sender.stop(task)
    await sender.transport.idle()


def setup(app: web.Application) -> None:
    """Start mail with the app; after the database context, which it needs."""
    app.cleanup_ctx.append(_mail)

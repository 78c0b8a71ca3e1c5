"""Mail: the intent written by every booking change, and the task that composes and sends.

* :func:`setup` registers :func:`write_intent` with the store, so each booking change writes
  one intent (:meth:`scheduler.outbox.Outbox.write_intent`) in its own transaction, and starts
  the sender task.
* The sender first composes the due intents (:meth:`scheduler.outbox.Outbox.claim_intents`:
  recipients and their settings, :func:`scheduler.mail.plan`, stored with the intent marked
  composed in one transaction), then claims due messages in small batches
  (:meth:`scheduler.outbox.Outbox.claim`), sends them and stores their outcomes. It wakes at
  once after a committed change (the booking service's subscription), when the clock is moved,
  when the next message or intent falls due, and every :data:`POLL_SECONDS` for those written
  by another node. (At once means :data:`WAKE_AFTER_COMMIT` after the commit: the request
  answers first.)
* A message that fails is retried after ``mail_retry_seconds`` × 4ⁿ (n: attempts so far),
  and after ``mail_max_attempts`` it is marked ``failed``, which staff see in the outbox; so is
  an intent whose composing raises (the booking itself is committed either way).
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
import ssl
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from aiohttp import web

from scheduler.changes import BookingChanged
from scheduler.mail import Links, OutgoingMail, Recipient, Sender, guest_addresses, plan, reminder
from scheduler.model import BookingView, Booth
from scheduler.outbox import CLAIM_BATCH, Addressee, ClaimedIntent, ClaimedMail, Outbox
from scheduler.store import Store
from webrtc.waiting import wait_set

from .clock import Clock
from .config import Config, SmtpSettings
from .keys import BOOKINGS, CLOCK, CONFIG, DATABASE, MAIL_SENDER, OUTBOX, SERVER_SECRET, STORE

log = logging.getLogger(__name__)

#: How often the sender looks for messages another node wrote, or that fell due meanwhile.
POLL_SECONDS = 30.0
SMTP_TIMEOUT = 60.0
#: A committed change wakes the sender this long after the commit, so that the request which
#: made it first finishes answering: woken at once, the sender's few milliseconds of composing
#: ran on this event loop before the answer was out (bench/bench_mail.py: +3 ms a booking).
WAKE_AFTER_COMMIT = 0.02


class Transport(Protocol):
    async def send(self, recipient: str, message: bytes) -> None: ...

    async def idle(self) -> None:
        """No more work for now: let go of connections."""


class SmtpTransport:
    """aiosmtplib, one connection reused across messages until the outbox is empty."""

    def __init__(self, settings: SmtpSettings, envelope_from: str) -> None:
        self.settings = settings
        self.envelope_from = envelope_from
        self._tls = settings.tls_context()
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.implicit_tls,
            start_tls=True if s.require_starttls else None,
            tls_context=self._tls,
            timeout=SMTP_TIMEOUT,
        )
        await client.connect()
        if s.username is not None and s.password is not None:
            await client.login(s.username, s.password)
        return client

    async def send(self, recipient: str, message: bytes) -> None:
        if self._client is None or not self._client.is_connected:
            self._client = await self._connect()
        try:
            await self._client.sendmail(self.envelope_from, [recipient], message)
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

    async def send(self, recipient: str, message: bytes) -> None:
        await asyncio.to_thread(self._box.add, message)

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


def _refused_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate error behind ``exc`` (aiosmtplib wraps it when it connects with TLS)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(exc: BaseException) -> str:
    refused = _refused_certificate(exc)
    if refused is not None:
        return (
            f"TLS: the relay's certificate is not trusted ({refused.verify_message}), so nothing was "
            "sent (BOOTH_SMTP_CA_FILE must name the CA that signs it, and the certificate the URL's host)"
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP {exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Composer:
    """Turns claimed intents into messages: the recipients' accounts and settings as they are
    now, the booking as the change left it, the venues from the store's catalog."""

    def __init__(self, store: Store, sender: Sender, links: Links) -> None:
        self.store = store
        self.sender = sender
        self.links = links

    async def catalog(self, batch: list[ClaimedIntent]) -> dict[int, Booth]:
        """Every booth with its venue; read again if a change names a booth the copy lacks
        (added on another node within the store's CATALOG_TTL)."""
        catalog = await self.store.catalog()
        if any(booth not in catalog for claimed in batch for booth in claimed.intent.booking["booths"]):
            self.store.catalog_changed()
            catalog = await self.store.catalog()
        return catalog

    async def addressees(self, outbox: Outbox, batch: list[ClaimedIntent]) -> dict[str, Addressee]:
        emails: set[str] = set()
        for claimed in batch:
            booking = claimed.intent.booking
            emails.add(booking["organizer_email"])
            emails.update(booking["guests"])
            emails.update(claimed.intent.uninvited)
        return await outbox.addressees_now(emails)

    def compose(
        self, claimed: ClaimedIntent, catalog: dict[int, Booth], found: dict[str, Addressee]
    ) -> list[OutgoingMail]:
        intent = claimed.intent
        view = intent.view(catalog)
        recipients, removed = recipients_of(view, intent.uninvited, found)
        return plan(
            intent.change,
            view,
            intent.changed_at,
            recipients,
            removed,
            self.sender,
            with_reminders=claimed.latest,
        )

    async def compose_reminders(
        self, outbox: Outbox, batch: list[ClaimedMail]
    ) -> list[tuple[ClaimedMail, Exception]]:
        """Compose the reminders of ``batch`` scheduled without bytes: the booking as it is (the
        claim superseded those of a version it has left), the recipient's settings as they are.
        Returns those that could not be composed, with why."""
        due = [mail for mail in batch if mail.message is None]
        if not due:
            return []
        views = await self.store.bookings_by_id(mail.booking_id for mail in due)
        emails = {mail.recipient for mail in due} | {v.organizer_email for v in views.values()}
        found = await outbox.addressees_now(emails)
        failures = []
        for mail in due:
            view = views.get(mail.booking_id)
            if view is None or view.sequence != mail.sequence:
                continue  # changed since the claim: left unsent, and superseded at the next one
            organizer = _recipient(view.organizer_email, found, "en", organizer=True)
            if mail.recipient.lower() == view.organizer_email.lower():
                recipient = organizer
            else:
                recipient = _recipient(mail.recipient, found, organizer.language, organizer=False)
            try:
                if mail.minutes is None:
                    raise ValueError("a reminder scheduled without its delay")
                mail.composed(reminder(view, recipient, mail.minutes, self.sender, self.links))
            except Exception as exc:
                failures.append((mail, exc))
        return failures


class MailSender:
    """The sender task of one node: composes due intents, then sends due messages."""

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        clock: Clock,
        config: Config,
        composer: Composer | None = None,
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.clock = clock
        self.config = config
        self.composer = composer
        self.wake = asyncio.Event()
        self.stopping = False
        self._task: asyncio.Task[None] | None = None

    async def compose_due(self) -> int:
        """Compose every intent due now; returns how many were tried."""
        if self.composer is None:
            return 0
        tried = 0
        while not self.stopping:
            async with self.outbox.claim_intents(self.clock.now(), CLAIM_BATCH) as batch:
                if not batch:
                    break
                catalog = await self.composer.catalog(batch)
                found = await self.composer.addressees(self.outbox, batch)
                for claimed in batch:
                    self._compose(claimed, catalog, found)
                    await asyncio.sleep(0)  # a few ms of work each: let requests in between
            tried += len(batch)
            if len(batch) < CLAIM_BATCH:
                # Most likely all there was; an intent that waited for one of this batch is
                # due, and _pause, seeing it, comes straight back. One claim fewer a change.
                break
        return tried

    def _compose(
        self, claimed: ClaimedIntent, catalog: dict[int, Booth], found: dict[str, Addressee]
    ) -> None:
        assert self.composer is not None
        intent = claimed.intent
        try:
            claimed.composed(self.composer.compose(claimed, catalog, found))
        except Exception as exc:
            what = (
                f"the mail of booking {intent.booking_id} ({intent.change.value}, sequence {intent.sequence})"
            )
            self._attempt_failed(claimed, intent.attempts, what, f"composing failed: {_describe(exc)}", exc)

    async def send_due(self) -> int:
        """Send every message due now (composing the reminders among them); returns how many
        were tried."""
        tried = 0
        while not self.stopping:
            async with self.outbox.claim(self.clock.now(), CLAIM_BATCH) as batch:
                failures = []
                if self.composer is not None:
                    failures = await self.composer.compose_reminders(self.outbox, batch)
                for mail, exc in failures:
                    what = f"mail {mail.message_id} to {mail.recipient}"
                    self._attempt_failed(
                        mail, mail.attempts, what, f"composing failed: {_describe(exc)}", exc
                    )
                for mail in batch:
                    if mail.message is not None and mail.status == "sending":
                        await self._send(mail, mail.message)
            tried += len(batch)
            if len(batch) < CLAIM_BATCH:
                break  # as for intents: _pause comes straight back for any message still due
        if tried:
            await self.transport.idle()
        return tried

    async def _send(self, mail: ClaimedMail, message: bytes) -> None:
        try:
            await self.transport.send(mail.recipient, message)
        except Exception as exc:
            what = f"mail {mail.message_id} to {mail.recipient}"
            self._attempt_failed(mail, mail.attempts, what, _describe(exc))
        else:
            mail.sent(self.clock.now())

    def _attempt_failed(
        self,
        claimed: ClaimedMail | ClaimedIntent,
        attempts: int,
        what: str,
        error: str,
        exc: BaseException | None = None,
    ) -> None:
        """Retry later with back-off, or after the last attempt mark it failed (staff see it)."""
        again = retry_at(attempts + 1, self.clock.now(), self.config)
        if again is None:
            claimed.failed(error)
            log.error("%s failed for good: %s", what, error, exc_info=exc)
        else:
            claimed.retry(error, again)
            log.warning("%s: %s; retrying", what, error)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="mail-sender")

    async def stop(self) -> None:
        """Let the batch in hand finish (its outcomes stored), then end; cancel after 10 s."""
        self.stopping = True
        self.wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, 10)
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
                await self.compose_due()
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


def recipients_of(
    view: BookingView, uninvited: tuple[str, ...], found: dict[str, Addressee]
) -> tuple[list[Recipient], list[Recipient]]:
    """(the organizer and each guest, the guests taken off), with their accounts' settings."""
    organizer = _recipient(view.organizer_email, found, "en", organizer=True)
    language = organizer.language
    guests = [_recipient(g, found, language, organizer=False) for g in guest_addresses(view)]
    removed = [_recipient(g, found, language, organizer=False) for g in uninvited]
    return [organizer, *guests], removed


async def write_intent(session: Any, event: BookingChanged) -> None:
    """The in-transaction handler: the change's intent, composed after the commit."""
    await Outbox.write_intent(session, event)


async def _mail(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    outbox = Outbox(app[DATABASE])
    app[OUTBOX] = outbox
    if app[DATABASE].is_sqlite:
        released = await outbox.release_claims()
        if released:
            log.warning("mail: %d message(s) claimed by a stopped process will be sent again", released)
    name, address = config.sender()
    composer = Composer(app[STORE], Sender(address, name), Links(config.origin, app[SERVER_SECRET]))
    sender = MailSender(outbox, transport_for(config), app[CLOCK], config, composer)
    app[MAIL_SENDER] = sender
    app[STORE].on_change_in_transaction(write_intent)

    async def wake(_event: BookingChanged) -> None:
        asyncio.get_running_loop().call_later(WAKE_AFTER_COMMIT, sender.wake.set)

    unsubscribe = app[BOOKINGS].subscribe(wake)
    stop_listening = app[CLOCK].on_advance(sender.wake.set)
    sender.start()
    yield
    unsubscribe()
    stop_listening()
    await sender.stop()
    await sender.transport.idle()


def setup(app: web.Application) -> None:
    """Start mail with the app; after the database context, which it needs."""
    app.cleanup_ctx.append(_mail)

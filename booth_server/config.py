"""Server configuration from flags and ``BOOTH_*`` environment variables.

A flag wins over the environment, the environment over the default. Every bad value is reported
as a :class:`ConfigError` naming the setting, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from webrtc.limits import AUTH_TIMEOUT, HEARTBEAT_INTERVAL, IDLE_TIMEOUT

#: How long a stopping server answers /readyz 503 before it closes its listener, at most.
MAX_DRAIN_SECONDS = 300.0


class ConfigError(ValueError):
    pass


def parse_instant(value: str, name: str) -> datetime:
    text = value.strip()
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ConfigError(
            f"{name}: {value!r} is not an ISO 8601 instant such as 2027-03-20T15:55:00Z"
        ) from None
    if instant.tzinfo is None:
        raise ConfigError(f"{name}: {value!r} has no UTC offset; add Z or +01:00")
    return instant


def _parse_port(value: str, name: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name}: {port} is not between 0 and 65535")
    return port


def _parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: {value!r} is not a boolean (use true or false)")


def _parse_list(value: str, _name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _parse_ice_urls(value: str, name: str) -> tuple[str, ...]:
    urls = _parse_list(value, name)
    for url in urls:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise ConfigError(
                f"{name}: {url!r} must start with stun:, stuns:, turn: or turns: "
                "(e.g. turns:turn.example.org:443?transport=tcp)"
            )
    return urls


def _parse_seconds(value: str, name: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise ConfigError(f"{name}: {value} must be more than 0 and at most 3600 seconds")
    return seconds


def parse_drain_seconds(value: str, name: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a number of seconds") from None
    if not 0 <= seconds <= MAX_DRAIN_SECONDS:
        raise ConfigError(f"{name}: {value} must be between 0 and {MAX_DRAIN_SECONDS:g} seconds")
    return seconds


def _parse_attempts(value: str, name: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 50:
        raise ConfigError(f"{name}: {value!r} is not a number of attempts from 1 to 50")
    return int(value)


_MAIL_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+$")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail: ``smtps://`` is TLS from the first byte (port 465 by
    default), ``smtp://`` upgrades with STARTTLS (port 587 by default), which it requires
    unless the relay is on a loopback address. The relay's certificate is verified, host name
    included, against the system's CAs or those of ``ca_file`` (``BOOTH_SMTP_CA_FILE``)."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @property
    def require_starttls(self) -> bool:
        return not self.implicit_tls and self.host not in ("127.0.0.1", "::1", "localhost")

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the relay's certificate and host name: against ``ca_file`` alone when set
        (a private CA), else against the system's CAs. Raises ConfigError naming the file."""
        name = "BOOTH_SMTP_CA_FILE"
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except OSError as exc:
            if isinstance(exc, ssl.SSLError):
                raise ConfigError(
                    f"{name}: {self.ca_file} holds no PEM certificate that can be read ({exc.reason or exc})"
                ) from None
            raise ConfigError(f"{name}: cannot read {self.ca_file}: {exc.strerror or exc}") from None

    @classmethod
    def parse(cls, url: str, password_file: str | None, ca_file: str | None = None) -> SmtpSettings:
        name = "BOOTH_SMTP_URL"
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{name}: not a valid URL ({exc})") from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigError(
                f"{name}: use smtp://host:587 (STARTTLS) or smtps://host:465 (TLS), not {parts.scheme!r}"
            )
        if not parts.hostname:
            raise ConfigError(f"{name}: the URL names no host, e.g. smtp://mail.example.org:587")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"{name}: give only user, password, host and port, e.g. smtps://user@host:465")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if password_file is not None:
            if password is not None:
                raise ConfigError(
                    f"{name} holds a password and BOOTH_SMTP_PASSWORD_FILE is set: give it in one place"
                )
            try:
                password = Path(password_file).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"BOOTH_SMTP_PASSWORD_FILE: cannot read {password_file}: {exc}") from None
            if not password:
                raise ConfigError(f"BOOTH_SMTP_PASSWORD_FILE: {password_file} is empty")
        if password is not None and not username:
            raise ConfigError(f"{name}: a password needs a user name, e.g. smtps://user@host:465")
        implicit = parts.scheme == "smtps"
        settings = cls(
            parts.hostname, port or (465 if implicit else 587), implicit, username, password, ca_file
        )
        if ca_file is not None:
            settings.tls_context()  # a bad file is named at start, not at the first message
        return settings


def _parse_int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}: {number} must be between {low} and {high}")
    return number


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata={"parse": _parse_port})
    database: str = "sqlite:///sebastian.db"
    demo: bool = field(default=False, metadata={"parse": _parse_bool})
    clock_start: datetime | None = field(default=None, metadata={"parse": parse_instant})
    #: The origin booths and browsers use (scheme://host:port); default: derived from host and port.
    public_origin: str | None = None
    #: Extra origins allowed to open the booth websocket and make cookie requests.
    allowed_origins: tuple[str, ...] = field(default=(), metadata={"parse": _parse_list})
    #: Set when the server sits behind a TLS proxy, so cookies get the Secure flag.
    secure_cookies: bool = field(default=False, metadata={"parse": _parse_bool})
    redis_url: str | None = None
    #: The prefix of every Redis key and channel: several deployments (or tests) can share one Redis.
    redis_prefix: str = "sebastian:"
    #: This node's name (connection ids, logs); default: host name and process id.
    node_id: str | None = None
    #: The file holding the server's signing secret (booth_server/server_secret.py); default:
    #: beside the SQLite database, or ./sebastian.secret.
    secret_file: str | None = None
    #: ICE servers handed to booths: STUN urls as they are, TURN urls with coturn REST credentials
    #: made from ``turn_secret`` (coturn's ``static-auth-secret``); ``turns:…:443`` passes firewalls.
    stun_urls: tuple[str, ...] = field(default=(), metadata={"parse": _parse_ice_urls})
    turn_urls: tuple[str, ...] = field(default=(), metadata={"parse": _parse_ice_urls})
    turn_secret: str | None = field(default=None, repr=False)
    #: Signalling socket timings (docs/protocol.md section 3); shorter only in tests.
    signal_heartbeat: float = field(default=HEARTBEAT_INTERVAL, metadata={"parse": _parse_seconds})
    signal_idle_timeout: float = field(default=IDLE_TIMEOUT, metadata={"parse": _parse_seconds})
    signal_auth_timeout: float = field(default=AUTH_TIMEOUT, metadata={"parse": _parse_seconds})
    #: On SIGTERM or SIGINT: seconds of /readyz 503 with the listener still open, before the
    #: sockets are told to go away (booth_server/lifecycle.py, docs/deploy.md).
    drain_seconds: float = field(default=10.0, metadata={"parse": parse_drain_seconds})
    #: Mail (docs/mail.md): ``smtp://`` (STARTTLS) or ``smtps://`` (TLS) with user and password
    #: in the URL or in ``smtp_password_file``; without it messages go to ``maildir``.
    smtp_url: str | None = field(default=None, repr=False)
    smtp_password_file: str | None = None
    #: PEM file of the CA certificates that sign the relay's certificate (a private CA); the
    #: system's CAs otherwise. Verification is never turned off.
    smtp_ca_file: str | None = None
    mail_from: str | None = None
    #: Where messages go without SMTP; default: beside the SQLite database, or ./sebastian.maildir.
    maildir: str | None = None
    #: Back-off of a message the SMTP server refused: this many seconds, times 4 per attempt.
    mail_retry_seconds: float = field(default=60.0, metadata={"parse": _parse_seconds})
    mail_max_attempts: int = field(default=6, metadata={"parse": _parse_attempts})
    #: Booth self-tests (docs/selftest.md); off answers every ``selftest_start`` with
    #: ``selftest_unavailable`` and asks no booth for one.
    selftest: bool = field(default=True, metadata={"parse": _parse_bool})
    #: The self-test echo peer (docs/selftest.md): None starts and supervises ``booth-echo`` on
    #: loopback (the embedded default); a URL uses one running elsewhere.
    echo_url: str | None = None
    echo_token: str | None = field(default=None, repr=False)
    #: Self-tests at once; the rest wait in line (bench/bench_echo.py measures the cost of one).
    echo_capacity: int = field(default=4, metadata={"parse": lambda v, n: _parse_int(v, n, 1, 256)})
    #: Addresses the embedded echo gathers host candidates on (default: every interface).
    echo_ice_addresses: tuple[str, ...] = field(default=(), metadata={"parse": _parse_list})
    #: Seconds of media in a self-test (docs/selftest.md); shorter only in tests.
    selftest_seconds: int = field(default=10, metadata={"parse": lambda v, n: _parse_int(v, n, 1, 60)})
    #: An idle keep-alive HTTP connection is closed after this many seconds (aiohttp's default
    #: is 75); slow request heads are nginx's part (deploy/nginx/slow-clients.conf).
    http_keepalive_timeout: float = field(default=15.0, metadata={"parse": _parse_seconds})
    log_level: str = "INFO"

    @property
    def origin(self) -> str:
        if self.public_origin:
            return self.public_origin.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def load(cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
        """Build from flags (already typed, None when absent) over ``BOOTH_*`` variables."""
        flags = flags or {}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            env_name = f"BOOTH_{f.name.upper()}"
            if flags.get(f.name) is not None:
                values[f.name] = flags[f.name]
            elif env_name in environ:
                parse = f.metadata.get("parse")
                raw = environ[env_name]
                values[f.name] = parse(raw, env_name) if parse else raw
        config = cls(**values)
        if config.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"BOOTH_LOG_LEVEL: {config.log_level!r} is not DEBUG, INFO, WARNING or ERROR")
        if config.redis_url is not None:
            if not config.redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(
                    f"BOOTH_REDIS_URL: {config.redis_url!r} is not a redis://, rediss:// or unix:// URL"
                )
            if not config.database.startswith("postgresql"):
                raise ConfigError(
                    "BOOTH_REDIS_URL is set but the database is not PostgreSQL: several nodes share"
                    " one PostgreSQL database (SQLite belongs to one process); use --database postgresql://…"
                )
        if config.turn_urls and not config.turn_secret:
            raise ConfigError(
                "BOOTH_TURN_URLS is set but BOOTH_TURN_SECRET is not: give coturn's "
                "static-auth-secret so booths get TURN credentials"
            )
        config.smtp()  # names every bad mail setting now, not at the first message
        config.sender()
        if config.echo_url is not None and not config.echo_url.startswith(("http://", "https://")):
            raise ConfigError(f"BOOTH_ECHO_URL: {config.echo_url!r} must start with http:// or https://")
        return config

    def smtp(self) -> SmtpSettings | None:
        """The SMTP relay of ``smtp_url`` (None: write to the maildir); raises ConfigError."""
        if self.smtp_url is None:
            for name, value in (
                ("BOOTH_SMTP_PASSWORD_FILE", self.smtp_password_file),
                ("BOOTH_SMTP_CA_FILE", self.smtp_ca_file),
            ):
                if value is not None:
                    raise ConfigError(f"{name} is set but BOOTH_SMTP_URL is not")
            return None
        return SmtpSettings.parse(self.smtp_url, self.smtp_password_file, self.smtp_ca_file)

    def sender(self) -> tuple[str, str]:
        """(display name, address) of ``mail_from``; required with SMTP, a local default without."""
        if self.mail_from is None:
            if self.smtp_url is not None:
                raise ConfigError(
                    "BOOTH_SMTP_URL is set but BOOTH_MAIL_FROM is not: give the address messages "
                    "come from, e.g. 'Sebastian <booths@example.org>'"
                )
            return ("Sebastian", "sebastian@localhost")
        name, address = parseaddr(self.mail_from)
        if not _MAIL_ADDRESS.match(address):
            raise ConfigError(
                f"BOOTH_MAIL_FROM: {self.mail_from!r} is not an e-mail address such as "
                "booths@example.org or 'Sebastian <booths@example.org>'"
            )
        return (name or "Sebastian", address)

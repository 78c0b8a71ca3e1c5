"""Server configuration from flags and ``BOOTH_*`` environment variables.

A flag wins over the environment, the environment over the default. Every bad value is reported
as a :class:`ConfigError` naming the setting, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


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
    #: The file holding the server's signing secret (booth_server/server_secret.py); default:
    #: beside the SQLite database, or ./sebastian.secret.
    secret_file: str | None = None
    #: ICE servers handed to booths: STUN urls as they are, TURN urls with coturn REST credentials
    #: made from ``turn_secret`` (coturn's ``static-auth-secret``); ``turns:…:443`` passes firewalls.
    stun_urls: tuple[str, ...] = field(default=(), metadata={"parse": _parse_ice_urls})
    turn_urls: tuple[str, ...] = field(default=(), metadata={"parse": _parse_ice_urls})
    turn_secret: str | None = field(default=None, repr=False)
    #: Signalling socket timings (docs/protocol.md section 3); shorter only in tests.
    signal_heartbeat: float = field(default=20.0, metadata={"parse": _parse_seconds})
    signal_idle_timeout: float = field(default=45.0, metadata={"parse": _parse_seconds})
    signal_auth_timeout: float = field(default=10.0, metadata={"parse": _parse_seconds})
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
        if config.turn_urls and not config.turn_secret:
            raise ConfigError(
                "BOOTH_TURN_URLS is set but BOOTH_TURN_SECRET is not: give coturn's "
                "static-auth-secret so booths get TURN credentials"
            )
        return config

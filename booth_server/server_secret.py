"""The server's own secret: the HMAC key of tokens and links it signs (booth session tokens,
one-click cancel links), kept apart from the database whose rows it protects.

It comes from ``BOOTH_SECRET_FILE`` (``--secret-file``). When that file does not exist the server
creates it once with 32 random bytes and mode 0600, so the embedded default needs no setup. Every
node of a cluster must read the same secret: give them the same file. Rotating the secret (a new
file) invalidates everything signed with the old one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .config import ConfigError

SECRET_BYTES = 32
MIN_SECRET_BYTES = 16


def default_secret_file(database_url: str) -> Path:
    """Beside the SQLite file of the embedded default; in the working directory otherwise."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix):
        return Path(database_url[len(prefix) :]).with_suffix(".secret")
    return Path("sebastian.secret")


def load_or_create(path: Path) -> bytes:
    """The secret in ``path``, created with mode 0600 if the file does not exist yet."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"BOOTH_SECRET_FILE: cannot create {path}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"BOOTH_SECRET_FILE: cannot read {path}: {exc}") from None
    if len(text) < 2 * MIN_SECRET_BYTES:
        raise ConfigError(
            f"BOOTH_SECRET_FILE: {path} holds {len(text)} characters; "
            f"use at least {2 * MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
        )
    return text.encode("ascii")

"""Online guessing slowed down: token buckets per account and per client address.

A login try takes one token from the bucket of the e-mail it names and one from the bucket of
the address it comes from, before any scrypt work; when either is empty the answer is ``429``
with ``Retry-After``. Registration takes from the address's registration bucket, so that asking
"does this e-mail have an account?" is just as slow. The numbers (docs/security.md):

- per account: 5 tries at once, then one every 20 s (3 a minute);
- per address: 30 login tries at once, then one every 6 s (10 a minute), which caps a spray
  over many accounts; a co-working space's people share one address, hence the burst;
- registration per address: 20 at once, then 10 a minute.

A real user who mistypes five times waits 20 s, never longer. Buckets live in this process's
memory: with several nodes behind a proxy each node counts apart (docs/security.md says so).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from aiohttp import web

from webrtc.ratelimit import TokenBucket

from .errors import TooManyTries
from .keys import CLOCK


@dataclass(frozen=True)
class Limit:
    burst: int
    per_minute: float

    @property
    def rate(self) -> float:
        return self.per_minute / 60


LOGIN_PER_ACCOUNT = Limit(burst=5, per_minute=3)
LOGIN_PER_ADDRESS = Limit(burst=30, per_minute=10)
REGISTER_PER_ADDRESS = Limit(burst=20, per_minute=10)
#: Above this many buckets, the full ones (idle long enough to have refilled) are forgotten.
_PRUNE_AT = 10_000


class Throttle:
    """Named families of token buckets, keyed by account or address."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def login(self, request: web.Request, email: str) -> None:
        """Before a password is checked: one try for this e-mail and this address."""
        address = client_address(request)
        self.take(
            request, [(LOGIN_PER_ACCOUNT, "login-account", email), (LOGIN_PER_ADDRESS, "login", address)]
        )

    def register(self, request: web.Request) -> None:
        self.take(request, [(REGISTER_PER_ADDRESS, "register", client_address(request))])

    def take(self, request: web.Request, checks: list[tuple[Limit, str, str]]) -> None:
        """Take one token for each ``(limit, family, key)`` or raise TooManyTries, taking none."""
        now = request.app[CLOCK].now().timestamp()
        buckets = [(self._bucket(limit, family, key, now), limit) for limit, family, key in checks]
        waits = [(1 - bucket.tokens(now)) / limit.rate for bucket, limit in buckets if bucket.tokens(now) < 1]
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise TooManyTries(
                f"too many tries: wait {retry} s before the next one",
                field="email" if checks[0][1] != "register" else "body",
                details={"retry_after": retry},
            )
        for bucket, _ in buckets:
            bucket.take(now)

    def _bucket(self, limit: Limit, family: str, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get((family, key))
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._buckets = {k: b for k, b in self._buckets.items() if b.tokens(now) < b.burst}
            bucket = self._buckets[(family, key)] = TokenBucket(limit.rate, limit.burst, now)
        return bucket


def client_address(request: web.Request) -> str:
    """The client's address; behind a proxy on this machine, the one it saw (X-Forwarded-For).

    Only a loopback peer is trusted to say who its client is: the shipped nginx config proxies
    from 127.0.0.1 and sets the header; any other peer's header is ignored.
    """
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        try:
            trusted = ipaddress.ip_address(peer).is_loopback
        except ValueError:
            trusted = False
        if trusted:
            last = forwarded.rsplit(",", 1)[-1].strip()
            try:
                return str(ipaddress.ip_address(last))
            except ValueError:
                return peer
    return peer

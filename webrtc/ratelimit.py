"""Per-connection rate limiting as token buckets, with the clock passed in.

``now`` is any monotonic float in seconds (the I/O layer passes ``loop.time()``), so the
limiter is a pure value that tests drive with plain numbers.
"""

from __future__ import annotations

import enum

from webrtc.limits import MESSAGE_BURST, MESSAGE_RATE, RATE_STRIKES, RATE_STRIKES_FORGIVEN_PER_SECOND


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; each event takes one."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (does not take any)."""
        # A clock that steps back must not mint tokens or push the refill into the future.
        elapsed = max(0.0, now - self._updated)
        return min(self.burst, self._tokens + elapsed * self.rate)

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if there are enough; False (and nothing taken) otherwise."""
        # ``tokens`` inlined, without min/max calls: this runs for every message a booth sends.
        available = self._tokens
        if now > self._updated:
            available += (now - self._updated) * self.rate
            if available > self.burst:
                available = self.burst
            self._updated = now
        if available >= cost:
            self._tokens = available - cost
            return True
        self._tokens = available
        return False


class Verdict(enum.Enum):
    ALLOW = "allow"  # handle the message
    REJECT = "reject"  # drop it and answer error rate_limited
    CLOSE = "close"  # drop it and close the socket with 1008


class RateLimiter:
    """The protocol's per-connection limit: 50 messages/s, burst 100.

    Each message over the limit is rejected; a second bucket counts those rejections
    (10, one forgiven per second), so a client that keeps going after being told is closed
    within about a second while a one-off burst only costs it a dropped message.
    """

    def __init__(
        self,
        now: float,
        *,
        rate: float = MESSAGE_RATE,
        burst: float = MESSAGE_BURST,
        strikes: float = RATE_STRIKES,
        forgiven_per_second: float = RATE_STRIKES_FORGIVEN_PER_SECOND,
    ) -> None:
        self._messages = TokenBucket(rate, burst, now)
        self._strikes = TokenBucket(forgiven_per_second, strikes, now)

    def check(self, now: float) -> Verdict:
        """Account for one incoming message at ``now`` and say what to do with it."""
        if self._messages.take(now):
            return Verdict.ALLOW
        if self._strikes.take(now):
            return Verdict.REJECT
        return Verdict.CLOSE

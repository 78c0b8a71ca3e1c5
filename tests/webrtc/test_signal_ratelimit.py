"""Token buckets with the clock passed in."""

from __future__ import annotations

import pytest

from webrtc.limits import MESSAGE_BURST, MESSAGE_RATE, RATE_STRIKES
from webrtc.ratelimit import RateLimiter, TokenBucket, Verdict


def test_bucket_burst_then_refill() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.05)  # half a token
    assert bucket.take(0.1)
    assert bucket.tokens(100.0) == 3  # never more than the burst


def test_bucket_clock_stepping_back_mints_nothing() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert not bucket.take(10.5)
    assert bucket.take(11.0)


def test_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)


def test_limiter_allows_the_protocol_rate_forever() -> None:
    limiter = RateLimiter(now=0.0)
    verdicts = {limiter.check(i / MESSAGE_RATE) for i in range(int(MESSAGE_RATE) * 60)}
    assert verdicts == {Verdict.ALLOW}


def test_limiter_burst_then_rejects_then_closes() -> None:
    limiter = RateLimiter(now=0.0)
    verdicts = [limiter.check(0.0) for _ in range(MESSAGE_BURST + RATE_STRIKES + 1)]
    assert verdicts == [Verdict.ALLOW] * MESSAGE_BURST + [Verdict.REJECT] * RATE_STRIKES + [Verdict.CLOSE]


def test_a_one_off_burst_is_forgiven() -> None:
    limiter = RateLimiter(now=0.0)
    for _ in range(MESSAGE_BURST + 5):
        limiter.check(0.0)  # five rejected
    assert limiter.check(1.0) is Verdict.ALLOW  # a second later the bucket has refilled
    for _ in range(MESSAGE_BURST + RATE_STRIKES - 5 + 1):  # strikes came back too: not closed yet
        last = limiter.check(10.0)
    assert last is Verdict.REJECT


@pytest.mark.parametrize(("rate", "closed_within"), [(60.0, 1.5), (500.0, 0.1)])
def test_sustained_excess_is_closed_soon_after_the_burst_is_spent(rate: float, closed_within: float) -> None:
    limiter = RateLimiter(now=0.0)
    burst_spent_at = MESSAGE_BURST / (rate - MESSAGE_RATE)
    t, verdicts = 0.0, []
    while (verdict := limiter.check(t)) is not Verdict.CLOSE:
        verdicts.append(verdict)
        t += 1 / rate
    assert burst_spent_at <= t < burst_spent_at + closed_within
    assert verdicts.count(Verdict.REJECT) >= RATE_STRIKES

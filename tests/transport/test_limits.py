"""The token bucket with an injected clock."""

from __future__ import annotations

import pytest

from quartdash.transport.limits import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10, burst=5, clock=clock)
    assert all(bucket.take() for _ in range(5))
    assert not bucket.take()
    clock.now = 0.1  # one token back
    assert bucket.take()
    assert not bucket.take()
    clock.now = 100.0  # refills only up to the burst
    assert sum(bucket.take() for _ in range(20)) == 5


def test_default_burst_and_validation() -> None:
    assert TokenBucket(1000).burst == 2000
    assert TokenBucket(1).burst == 50
    with pytest.raises(ValueError):
        TokenBucket(0)

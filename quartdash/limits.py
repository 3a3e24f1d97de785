"""Per-connection limits on what a client may send, pure and clock-injected.

A flood from one socket must cost the server nothing beyond that socket, so each
connection holds a token bucket: it refills at ``rate`` messages per second up to
``burst``, and a message that finds it empty ends the connection with 4429.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Inbound messages per connection per second, sustained. One socket carries every
#: tab of a browser (the SharedWorker), and a page load sends one callback_request per
#: initial callback, hence a generous rate and a burst of twice as many.
DEFAULT_RATE_LIMIT = 1000.0
#: Largest inbound frame, in bytes.
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20


class TokenBucket:
    """Admits ``rate`` events per second on average, ``burst`` at once."""

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(2 * rate, 50.0)
        self._tokens = self.burst
        self._clock = clock
        self._stamp = clock()

    @property
    def stamp(self) -> float:
        """The clock's reading at the last ``take`` (or at creation): when the last
        message arrived, which the registry reports as ``last_seen``."""
        return self._stamp

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty (the caller is over the limit)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

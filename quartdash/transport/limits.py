"""Limits on what one client may make the server do, pure and clock-injected.

A flood from one client must cost the server nothing beyond that client, so:

* each socket holds two token buckets, one counting messages and one counting bytes;
  a message that finds either empty ends the connection with 4429;
* HTTP callbacks draw on the same rates, one pair of buckets per session (or, without
  ``auth``, per remote address), answered with HTTP 429 (``ClientLimits``);
* text a client chose (a callback id, a header) is made printable before it reaches a
  log line (``printable``), so it can neither forge lines nor hide in control codes.

The rates and sizes are settings (``config.Settings``): ``docs/configuration.md``
lists each with its keyword, environment variable and the answer past it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from werkzeug.datastructures import Headers

#: HTTP clients (sessions or addresses) whose buckets are remembered; the least
#: recently seen is forgotten first, so the table costs a bounded amount of memory.
MAX_TRACKED_CLIENTS = 10_000


class TokenBucket:
    """Admits ``rate`` units per second on average, ``burst`` at once."""

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

    def take(self, amount: float = 1.0) -> bool:
        """Spend ``amount`` tokens; False when there are not that many (the caller is
        over the limit). Nothing is spent then."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True


def byte_bucket(byte_rate: float, max_message_bytes: int,
                clock: Callable[[], float] = time.monotonic) -> TokenBucket:
    """The inbound byte bucket of one client (see ``config.DEFAULTS.byte_rate_limit``)."""
    return TokenBucket(byte_rate, 4 * max(byte_rate, float(max_message_bytes)), clock)


class ClientLimits:
    """Per-client buckets for HTTP callbacks: the same message and byte rates as one
    socket, keyed by session (or address), for at most ``MAX_TRACKED_CLIENTS`` keys."""

    def __init__(
        self, rate: float, byte_rate: float, max_message_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate, self._byte_rate, self._max_message = rate, byte_rate, max_message_bytes
        self._clock = clock
        self._clients: OrderedDict[str, tuple[TokenBucket, TokenBucket]] = OrderedDict()

    def take(self, key: str, size: int) -> bool:
        """Count one request of ``size`` bytes for ``key``; False if over a limit."""
        buckets = self._clients.pop(key, None)
        if buckets is None:
            buckets = (TokenBucket(self._rate, clock=self._clock),
                       byte_bucket(self._byte_rate, self._max_message, self._clock))
            while len(self._clients) >= MAX_TRACKED_CLIENTS:
                self._clients.popitem(last=False)
        self._clients[key] = buckets
        return buckets[0].take() and buckets[1].take(size)

    def __len__(self) -> int:
        return len(self._clients)


def client_address(remote_addr: str | None, headers: Mapping[str, str] | Headers,
                   trust_proxy_headers: bool) -> str:
    """The address a per-address limit counts: the peer's, or behind a trusted proxy
    (``trust_proxy_headers``) the last ``X-Forwarded-For`` entry, which that proxy
    appended (earlier entries are the client's own claims)."""
    if trust_proxy_headers:
        forwarded = headers.get("x-forwarded-for")
        if forwarded:
            last = forwarded.rsplit(",", 1)[-1].strip()
            if last:
                return printable(last, 64)
    return remote_addr or "-"


def printable(text: object, limit: int = 200) -> str:
    """``text`` for a log line: control and other non-printable characters escaped as
    Python does in ``repr`` (a newline becomes ``\\n``), at most ``limit`` characters."""
    value = str(text)
    if len(value) > limit:
        value = value[:limit] + "..."
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)

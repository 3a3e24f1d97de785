"""What a WebSocket callback sets on ``ctx.response`` (cookies, headers), handed to the browser.

Over HTTP, Dash sends ``ctx.response.set_cookie(...)`` (and ``set_header``,
``append_header``) as headers of the callback's HTTP response. A socket frame has no
headers, and JavaScript cannot set an ``HttpOnly`` cookie, so only an HTTP response
can carry them. Over the socket, then:

1. the callback's response frame carries a one-time token (``quartdash_handover``) in
   place of the headers, which stay on the server (``Handovers``);
2. quartdash's page script holds that response (and whatever follows it) back from
   Dash's renderer, redeems the token with a same-origin ``POST`` to
   ``{requests_pathname_prefix}_quartdash/handover`` (body ``{"token": ...}``), whose
   ``204`` answer carries the headers, and then lets the renderer see the response.

So the cookie is in the browser's jar before the callback's outputs reach the page,
and the next request (HTTP callback, page load, socket handshake) sends it: as over
HTTP. The socket's later callbacks see it too (``with_cookies``): their ``ctx.cookies``
are the handshake's, updated by what the socket's callbacks have set since. A callback
that sets nothing costs nothing more.

What a client could try, and what it gets:

* another's headers: a token is 256 random bits, sent only over the socket of the page
  whose callback set them; with ``auth`` it is bound to that socket's session (a
  request of another session gets 404, and the token is spent); it is single use and
  lives ``handover_seconds`` (env ``QUARTDASH_HANDOVER_SECONDS``, default 60 s: longer
  than a socket waits for its resume, so a response replayed after a drop can still
  be redeemed);
* a post from another site: refused as every state-changing post is (``csrf.py``: 403);
* memory: each socket holds at most ``max_handovers`` unredeemed sets (env
  ``QUARTDASH_MAX_HANDOVERS``, default 16; past it the callback's headers are refused,
  logged, and in debug mode the page gets an error), each at most
  ``MAX_HANDOVER_BYTES``; redeem requests draw on the HTTP callbacks' rates (429);
* the log: neither a token nor a header value is ever logged, and a token never
  appears in a URL.

Not every header means something here: those that frame the callback's own HTTP
message (``FRAMING``: Content-Type, Content-Length, ...) are refused, as is any set
that a client of the socket cannot redeem (a client without quartdash's page script,
such as Dash's own worker or a script): refused means logged once per socket and, in
Dash's debug mode, an error in the page, never dropped without a word.

Where the headers wait: with the in-process backplane, in this worker's memory
(``Handovers``). With a shared one (``backplane="redis://..."``) they wait in the
backplane (``Backplane.share_handover``), so the redeem may reach any worker of any
host, as an HTTP request to ``hypercorn -w N`` or behind a load balancer does; taking
them there is atomic, so a token is single use across workers. The issuing worker
still counts them against the socket's ``max_handovers``: a set redeemed by this
worker frees its place at once; nothing tells it of one redeemed by another worker,
so when the socket has no place left it asks the backplane which of its sets still
wait (one round trip, only then), and those redeemed elsewhere free theirs. If the
backplane cannot keep them (Redis unreachable), this worker keeps them, as with one
process, and logs it once per outage: a redeem that reaches this worker still works,
one that reaches another answers 404 (logged there; the page logs it to its console).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING

from quartdash.cluster.models import Headers
from quartdash.config import DEFAULTS
from quartdash.exceptions import HandoverRefused

if TYPE_CHECKING:
    from quartdash.cluster.backplane import Backplane

log = logging.getLogger("quartdash")

#: Largest header set one callback may hand over (names and values, in characters).
#: A browser keeps at most about 4 KiB per cookie.
MAX_HANDOVER_BYTES = 64 << 10
#: Largest redeem request body; a token is 43 characters.
MAX_REDEEM_BYTES = 1024
#: Characters of a token (``secrets.token_urlsafe(32)``).
TOKEN_CHARS = 43
#: Response headers that describe the callback's own HTTP message, not the browser's
#: state: meaningless on another response, so refused rather than moved.
FRAMING = frozenset({
    "content-type", "content-length", "content-encoding", "transfer-encoding",
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
})


def split_framing(headers: Iterable[tuple[str, str]]) -> tuple[Headers, list[str]]:
    """The headers that can be handed over, and the names of those that cannot."""
    kept: Headers = []
    refused: list[str] = []
    for name, value in headers:
        (refused.append(name) if name.lower() in FRAMING else kept.append((name, value)))
    return kept, refused


@dataclass(slots=True)
class _Pending:
    owner: str
    binding: str | None
    #: None once the backplane holds them (``shared``).
    headers: Headers | None
    expires: float


class Handovers:
    """This worker's unredeemed header sets, by token: bounded per owner (a socket)
    and in time; what expired is purged as new sets come and go, at the cost of
    what expired."""

    def __init__(
        self,
        seconds: float = DEFAULTS.handover_seconds,
        per_owner: int = DEFAULTS.max_handovers,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds <= 0 or per_owner <= 0:
            raise ValueError("handover_seconds and max_handovers must be positive")
        self.seconds = seconds
        self.per_owner = per_owner
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        #: The tokens of each owner's unredeemed sets.
        self._owned: dict[str, set[str]] = {}
        #: (expiry, token) in issue order, which is expiry order.
        self._order: deque[tuple[float, str]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def issue(self, owner: str, binding: str | None, headers: Headers) -> str:
        """Keep ``headers`` for one redeem with ``binding``; the token that redeems
        them. ``HandoverRefused`` past the owner's limit or ``MAX_HANDOVER_BYTES``."""
        size = sum(len(name) + len(value) for name, value in headers)
        if size > MAX_HANDOVER_BYTES:
            raise HandoverRefused(
                f"the headers set are {size} bytes, more than {MAX_HANDOVER_BYTES}")
        now = self._clock()
        self._purge(now)
        if len(self._owned.get(owner, ())) >= self.per_owner:
            raise HandoverRefused(
                f"{self.per_owner} sets of headers already wait for the page to take them")
        token = secrets.token_urlsafe(32)
        expires = now + self.seconds
        self._pending[token] = _Pending(owner, binding, headers, expires)
        self._owned.setdefault(owner, set()).add(token)
        self._order.append((expires, token))
        return token

    def redeem(self, token: str, binding: str | None) -> Headers | None:
        """The headers ``token`` stands for, once; None if it is unknown, used, expired,
        or bound to another session (the token is spent all the same)."""
        now = self._clock()
        self._purge(now)
        pending = self._pending.pop(token, None)
        if pending is None:
            return None
        self._release(pending.owner, token)
        return pending.headers if bound_to(pending.binding, binding) else None

    def shared(self, token: str) -> None:
        """The backplane holds ``token``'s headers now, for any worker to redeem: drop
        this worker's copy, keep the place it takes in its owner's count until it is
        redeemed here (``redeem`` then answers None and frees it) or expires."""
        pending = self._pending.get(token)
        if pending is not None:
            pending.headers = None

    def _purge(self, now: float) -> None:
        order = self._order
        while order and order[0][0] <= now:
            _, token = order.popleft()
            pending = self._pending.get(token)
            if pending is not None and pending.expires <= now:
                del self._pending[token]
                self._release(pending.owner, token)

    def shared_at_limit(self, owner: str) -> list[str]:
        """When ``owner`` has no place left: its sets the backplane holds (any worker may
        have redeemed them, unseen here), to ask which still wait; else none."""
        self._purge(self._clock())
        tokens = self._owned.get(owner, set())
        if len(tokens) < self.per_owner:
            return []
        return [token for token in tokens if self._pending[token].headers is None]

    def forget(self, tokens: Iterable[str]) -> None:
        """Drop sets redeemed elsewhere (the backplane no longer holds them), freeing
        their places; a token unknown here is ignored."""
        for token in tokens:
            pending = self._pending.pop(token, None)
            if pending is not None:
                self._release(pending.owner, token)

    def _release(self, owner: str, token: str) -> None:
        tokens = self._owned.get(owner)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._owned[owner]


def bound_to(binding: str | None, candidate: str | None) -> bool:
    """A set kept with ``binding`` may be redeemed by a request of ``candidate``'s
    session: any, without ``auth``; else the same session (compared in constant time)."""
    return binding is None or secrets.compare_digest(binding, candidate or "")


async def issue(store: Handovers, backplane: Backplane, owner: str, binding: str | None,
                headers: Headers) -> str:
    """``store.issue``, then the headers go to ``backplane`` for any worker to redeem;
    if it does not take them (one process, or Redis unreachable: it logs that), this
    worker keeps them. When the owner has no place left, first ask the backplane which
    of its shared sets still wait: those redeemed on another worker free their places
    (one round trip of at most ``per_owner`` lookups, only then)."""
    shared = store.shared_at_limit(owner)
    if shared:
        waiting = await backplane.handovers_waiting(shared)
        store.forget(token for token in shared if token not in waiting)
    token = store.issue(owner, binding, headers)
    if await backplane.share_handover(token, binding, headers, store.seconds):
        store.shared(token)
    return token


async def redeem(store: Handovers, backplane: Backplane, token: str,
                 binding: str | None) -> Headers | None:
    """The headers ``token`` stands for, once, from this worker's store or else from
    the backplane (taken there atomically: one redeem in the whole cluster); None if
    unknown, used, expired or of another session (spent all the same)."""
    headers = store.redeem(token, binding)
    if headers is not None:
        return headers
    found = await backplane.take_handover(token)
    if found is None:
        return None
    kept_binding, headers = found
    return headers if bound_to(kept_binding, binding) else None


def with_cookies(cookies: Mapping[str, str], headers: Iterable[tuple[str, str]],
                 now: float | None = None) -> dict[str, str]:
    """``cookies`` (a request's, by name) as the browser sends them once it has taken
    ``headers``: each ``Set-Cookie`` sets its cookie, or deletes it when it has expired
    (``Max-Age`` 0 or less, or an ``Expires`` in the past). Path and domain are not
    compared: the socket and the app's callbacks share one path."""
    result = dict(cookies)
    now = time.time() if now is None else now
    for name, value in headers:
        if name.lower() != "set-cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            jar.load(value)
        for key, morsel in jar.items():
            if _expired(morsel["max-age"], morsel["expires"], now):
                result.pop(key, None)
            else:
                result[key] = morsel.value
    return result


def _expired(max_age: str, expires: str, now: float) -> bool:
    if max_age:
        with contextlib.suppress(ValueError):
            return int(max_age) <= 0
    if expires:
        with contextlib.suppress(TypeError, ValueError):
            return parsedate_to_datetime(expires).timestamp() <= now
    return False


def valid_token(value: object) -> bool:
    """Shaped like a token this module issues (checked before any lookup)."""
    return (isinstance(value, str) and len(value) == TOKEN_CHARS
            and all(c.isalnum() or c in "-_" for c in value))

"""Who is on the other end: quart-auth sessions, their ids, revocation and expiry.

A session is one login in one browser (all its tabs). quart-auth's cookie is a signed
token of the user's ``auth_id`` and a whole-second timestamp, so two logins of one user
in the same second give the very same cookie and nothing in it names the login. quartdash
therefore signs a random session id into the token beside the auth id, through
quart-auth's documented ``serializer_class`` hook, so quart-auth's own API keeps seeing
the auth id alone. The id survives ``renew_login()``; any login of a different user in
the same browser ends the old session and starts a new one. The token also carries when
the session's login happened, to the microsecond: closing every session of a user
revokes the tokens issued before that moment, and a whole-second time would also
refuse the login that follows it at once.

Revocation is checked inside that serializer: a revoked cookie is no login at all, for
the WebSocket and for ``current_user`` in every route alike, until it would have expired
anyway. The revocation list itself is plain data (``Revocations``), kept by the backplane
so every worker sees the same list.

Logout and login are noticed after the route that did them, in an ``after_request`` hook:
plain ``quart_auth.logout_user()`` anywhere is enough.

The whole lifecycle is here (``SessionLifecycle``): a session starts, is renewed and ends
by login and logout, is closed by the registry's ``close(session=|user=)`` (the admin
API), or expires on a live socket (the registry's sweep notices); each end revokes the
session in every worker and closes its sockets through the backplane, and the
``session_started`` and ``session_ended`` signals are sent from here alone.

The session id is no credential: it names a session in log lines, listings, the admin
API and the CLI. What proves one is the cookie, whose signature needs the server's
secret; the id only lets an administrator close that session (``POST
sessions/<id>/close``). A handover is redeemed by a request whose own signed cookie
names the session it is bound to, a resume needs the resume token and that cookie too,
and the SharedWorker's URL carries an HMAC of the id, never the id.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Quart, Response, g, has_request_context, has_websocket_context, request, websocket
from quart_auth import Action, AuthUser, QuartAuth

from quartdash import signals
from quartdash.cluster.models import (
    Close,
    Command,
    ConnectionInfo,
    Extend,
    Revocation,
    Selector,
)
from quartdash.observe import events
from quartdash.transport.protocol import CloseCode

_TOKEN_MEMO = "_quartdash_session_token"
_LOGIN_MEMO = "_quartdash_login_session"
_MISSING = object()


def new_session_id() -> str:
    """A fresh session id: 128 random bits in hex (it appears in admin URLs and on
    command lines, where a leading ``-`` would read as an option)."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class SessionToken:
    """What a valid auth cookie says: whose login, which session, valid until when.
    ``issued_at`` is when the session's login happened (a renewed token keeps it), to
    the microsecond; a cookie signed before quartdash recorded that has itsdangerous's
    whole-second time instead. ``expires_at`` is infinite for tokens that never expire."""

    user: str
    session_id: str
    issued_at: float
    expires_at: float


class Revocations:
    """The revocation list: pure data, consulted synchronously by the cookie serializer
    on every login check, so a lookup is a dict read.

    Every worker purges it every second, and it may hold an entry per logout of the
    last ``QUART_AUTH_DURATION`` (a year by default): a purge must cost what expires,
    not what is kept. A heap per kind, ordered by ``until``, hands out the entries that
    are due; an entry whose ``until`` grew later leaves a stale heap item behind, which
    is skipped when it comes up (lazy deletion). Entries kept forever (``until``
    infinite: tokens that never expire) never enter a heap, so no purge sees them."""

    def __init__(self) -> None:
        self._sessions: dict[str, float] = {}
        self._users: dict[str, tuple[float, float]] = {}  # user: (before, until)
        self._session_expiry: list[tuple[float, str]] = []
        self._user_expiry: list[tuple[float, str]] = []

    def add(self, entry: Revocation) -> None:
        """Merge ``entry`` in: a session or user already listed keeps the latest
        ``until`` (and ``before``). Idempotent, so reloading a copy costs no heap item."""
        if entry.session is not None:
            old = self._sessions.get(entry.session)
            if old is None or entry.until > old:
                self._sessions[entry.session] = entry.until
                _schedule(self._session_expiry, entry.until, entry.session)
        if entry.user is not None and entry.before is not None:
            was = self._users.get(entry.user)
            if was is None or entry.until > was[1] or entry.before > was[0]:
                until = entry.until if was is None else max(was[1], entry.until)
                before = entry.before if was is None else max(was[0], entry.before)
                self._users[entry.user] = (before, until)
                if was is None or until > was[1]:
                    _schedule(self._user_expiry, until, entry.user)

    def revoked(self, session_token: SessionToken) -> bool:
        """True if this token may no longer be used."""
        if session_token.session_id in self._sessions:
            return True
        user = self._users.get(session_token.user)
        # A cookie of older quartdash has a whole-second issue time, floored: issued in
        # the second of a user-wide revocation, it counts as issued before it.
        return user is not None and session_token.issued_at <= user[0]

    def purge(self, now: float) -> int:
        """Forget entries whose tokens have all expired (``until <= now``); how many."""
        sessions, users = self._sessions, self._users
        gone = 0
        heap = self._session_expiry
        while heap and heap[0][0] <= now:
            until, session = heapq.heappop(heap)
            if sessions.get(session) == until:  # else stale: re-added with a later until
                del sessions[session]
                gone += 1
        heap = self._user_expiry
        while heap and heap[0][0] <= now:
            until, user = heapq.heappop(heap)
            entry = users.get(user)
            if entry is not None and entry[1] == until:
                del users[user]
                gone += 1
        return gone

    def entries(self) -> list[Revocation]:
        """The list as entries, for copying it elsewhere (a backplane's store)."""
        return [Revocation(until, session=sid) for sid, until in self._sessions.items()] + [
            Revocation(until, user=user, before=before)
            for user, (before, until) in self._users.items()
        ]

    def __len__(self) -> int:
        return len(self._sessions) + len(self._users)


def _schedule(heap: list[tuple[float, str]], until: float, key: str) -> None:
    if until < math.inf:
        heapq.heappush(heap, (until, key))


def _token(payload: Any, signed_at: float, max_age: int | None, raw: str | bytes) -> SessionToken:
    """The token a verified payload describes. ``signed_at`` is itsdangerous's
    whole-second timestamp: expiry is counted from it, as itsdangerous counts it."""
    issued_at = signed_at
    if isinstance(payload, dict) and isinstance(payload.get("u"), str):
        user, session_id = payload["u"], str(payload.get("s"))
        when = payload.get("t")
        if isinstance(when, (int, float)) and not isinstance(when, bool) and math.isfinite(when):
            issued_at = float(when)
    elif isinstance(payload, str):
        # A cookie signed before quartdash wrapped the serializer: its hash names it.
        raw_bytes = raw.encode() if isinstance(raw, str) else raw
        user, session_id = payload, hashlib.sha256(raw_bytes).hexdigest()[:22]
    else:
        raise BadSignature("not a session token")
    # itsdangerous accepts ages up to max_age in whole seconds, hence the + 1.
    expires_at = math.inf if max_age is None else signed_at + max_age + 1
    return SessionToken(user, session_id, issued_at, expires_at)


def session_serializer(
    base: type[URLSafeTimedSerializer],
    revocations: Revocations,
    login_session: Callable[[str], tuple[str, float]],
) -> type[URLSafeTimedSerializer]:
    """quart-auth's serializer, signing a session id and the login's time beside the
    auth id and refusing revoked tokens. ``login_session(auth_id)`` chooses the
    session id and issue time a new cookie carries."""

    class SessionSerializer(base):  # type: ignore[valid-type,misc]
        def dumps(self, obj: Any, salt: str | bytes | None = None) -> Any:
            session_id, issued_at = login_session(str(obj))
            return super().dumps({"u": obj, "s": session_id, "t": issued_at}, salt)

        def loads(
            self,
            s: str | bytes,
            max_age: int | None = None,
            return_timestamp: bool = False,
            salt: str | bytes | None = None,
        ) -> Any:
            token, when = self._load(s, max_age, salt)
            return (token.user, when) if return_timestamp else token.user

        def load_session(
            self, s: str | bytes, max_age: int | None = None, salt: str | bytes | None = None
        ) -> SessionToken:
            return self._load(s, max_age, salt)[0]

        def _load(
            self, s: str | bytes, max_age: int | None, salt: str | bytes | None
        ) -> tuple[SessionToken, datetime]:
            payload, when = super().loads(s, max_age=max_age, return_timestamp=True, salt=salt)
            token = _token(payload, when.timestamp(), max_age, s)
            if revocations.revoked(token):
                raise BadSignature("session revoked")
            return token, when

    SessionSerializer.__name__ = SessionSerializer.__qualname__ = f"Session{base.__name__}"
    return SessionSerializer


def token_lifetime(auth: QuartAuth | None) -> float:
    """How long a session token lives (quart-auth's ``QUART_AUTH_DURATION``), in seconds:
    infinite when it is None (tokens that never expire), 0 without ``auth`` (no token).
    Read at each use: ``auth.duration`` may be set after the app was built."""
    if auth is None:
        return 0.0
    return math.inf if auth.duration is None else float(auth.duration)


class Cluster(Protocol):
    """What the lifecycle needs of the cluster (``cluster.backplane.Backplane`` is
    one): revoke in every worker, act on every worker's sockets, list them."""

    async def revoke(self, entry: Revocation) -> None: ...

    async def send(self, command: Command) -> int: ...

    async def list(self, selector: Selector) -> list[ConnectionInfo]: ...


class SessionLifecycle:
    """Every start, renewal and end of a session, and the signals that tell the app.

    Built with or without ``auth``: without it no socket has a session, yet the
    registry's ``close(session=...)`` still revokes that id and says so."""

    def __init__(self, cluster: Cluster, emit: signals.Emitter, auth: QuartAuth | None) -> None:
        self._cluster = cluster
        self._emit = emit
        self._auth = auth

    def revoke_until(self) -> float:
        """Until when a revocation made now must be kept: as long as a token issued now
        can live; forever (infinite) when tokens never expire (``QUART_AUTH_DURATION``
        None), else such a cookie would pass again once the entry is purged."""
        return time.time() + token_lifetime(self._auth) + 1  # inf + 1 is inf: never int() it

    # --- by login and logout (``Sessions``) -------------------------------------------
    async def started(self, session_token: SessionToken) -> None:
        await self._emit(signals.session_started, session_id=session_token.session_id,
                         user=session_token.user)

    async def renewed(self, session_token: SessionToken) -> None:
        """A renewed login: the session's sockets live until the new token expires."""
        await self._cluster.send(Extend(session_token.session_id, session_token.expires_at))

    async def ended(self, session_token: SessionToken, reason: str) -> None:
        """A logout (``reason`` "logout") or a login as another user ("login") ended
        the session: its cookie is revoked until it would have expired."""
        text = "logged out" if reason == "logout" else "signed in as another user"
        await self.end(session_token.session_id, session_token.user, reason,
                       until=session_token.expires_at, text=text)

    # --- by the registry (the admin API) ----------------------------------------------
    async def close(self, session_id: str, text: str, code: int) -> int:
        """End one session by its id; how many sockets closed."""
        owners = {info.user for info in await self._cluster.list(Selector(session=session_id))}
        owner = owners.pop() if len(owners) == 1 else None
        return await self.end(session_id, owner, "closed", until=None, text=text, code=code)

    async def close_user(self, user: str, text: str, code: int) -> int:
        """End every session of ``user``: every token issued until now is revoked."""
        now = time.time()
        sessions = {info.session for info in await self._cluster.list(Selector(user=user))}
        await self._cluster.revoke(Revocation(self.revoke_until(), user=user, before=now))
        closed = await self._cluster.send(Close(Selector(user=user), code, text))
        for session_id in sorted(s for s in sessions if s is not None):
            await self._ended(session_id, user, "closed")
        return closed

    async def end(
        self,
        session_id: str,
        user: str | None,
        reason: str,
        *,
        until: float | None,
        text: str,
        code: int = CloseCode.SESSION_ENDED,
    ) -> int:
        """Revoke one session (until ``until``, else as long as any token can live),
        close its sockets everywhere and send ``session_ended``."""
        await self._cluster.revoke(Revocation(until or self.revoke_until(), session=session_id))
        closed = await self._cluster.send(Close(Selector(session=session_id), code, text))
        await self._ended(session_id, user, reason)
        return closed

    # --- by the registry's sweep -----------------------------------------------------
    async def expired(self, session_id: str, user: str | None) -> None:
        """A live socket's session expired (the sweep closed it with 4408)."""
        await self._ended(session_id, user, "expired")

    async def _ended(self, session_id: str, user: str | None, reason: str) -> None:
        """Count the end (``observe/events.py``) and send ``session_ended``."""
        events.observer.session_ended(cast("events.EndReason", reason))
        await self._emit(signals.session_ended, session_id=session_id, user=user,
                         reason=reason)


class Sessions:
    """quart-auth, made session-aware: installs the serializer and the login/logout hook,
    and reads the current request's or websocket's session. What a login or logout
    starts, renews or ends is ``lifecycle``'s."""

    def __init__(
        self, auth: QuartAuth, revocations: Revocations, lifecycle: SessionLifecycle
    ) -> None:
        if auth.mode not in (None, "cookie"):
            raise ValueError("quartdash sessions need QuartAuth(mode='cookie'): "
                             "a browser cannot put a bearer token on a WebSocket")
        self.auth = auth
        self.lifecycle = lifecycle
        auth.serializer_class = session_serializer(  # type: ignore[assignment]
            auth.serializer_class, revocations, self._login_session
        )

    def init_app(self, server: Quart) -> None:
        if self.auth not in server.extensions.get("QUART_AUTH", []):
            self.auth.init_app(server)
        if self.auth.mode != "cookie":
            raise ValueError("quartdash sessions need QuartAuth(mode='cookie')")
        if self.auth.duration is None:
            # A revocation is kept as long as the tokens it matches can live: here,
            # forever, so every logout adds an entry that every worker (and Redis)
            # holds for good. Worth knowing before it is a million.
            warnings.warn(
                "QUART_AUTH_DURATION is None: logins never expire, and each logout's "
                "revocation is kept forever, in every worker and in Redis; set a "
                "duration in seconds (quart-auth's default is a year)",
                stacklevel=3,
            )
        server.after_request(self._after_request)

    @property
    def duration(self) -> float:
        """How long a token lives (``token_lifetime``)."""
        return token_lifetime(self.auth)

    # --- reading --------------------------------------------------------------------------
    def current_token(self) -> SessionToken | None:
        """The valid, unrevoked session of the current request or websocket, if any.
        Memoised per request, so a revocation during the request does not hide it."""
        memo = g.get(_TOKEN_MEMO, _MISSING)
        if memo is not _MISSING:
            return memo if isinstance(memo, SessionToken) else None
        token = self.read(_cookies().get(str(self.auth.cookie_name)))
        setattr(g, _TOKEN_MEMO, token)
        return token

    def read(self, cookie: str | None, app: Quart | None = None) -> SessionToken | None:
        """Decode one cookie value; None unless it is valid and not revoked."""
        if not cookie:
            return None
        from quart import current_app  # pylint: disable=import-outside-toplevel

        server = app or current_app
        keys: list[Any] = [*(server.config.get("SECRET_KEY_FALLBACKS") or []), server.secret_key]
        serializer = self.auth.serializer_class(keys, str(self.auth.salt))
        try:
            token: SessionToken = serializer.load_session(  # type: ignore[attr-defined]
                cookie, max_age=self.auth.duration
            )
        except BadSignature:
            return None
        return token

    async def identify(self) -> tuple[AuthUser, SessionToken] | None:
        """The logged-in user (as quart-auth resolves it) and session, or None."""
        token = self.current_token()
        if token is None:
            return None
        user = self.auth.load_user()
        if not await user.is_authenticated or user.auth_id != token.user:
            return None
        return user, token

    # --- login and logout ---------------------------------------------------------------
    def _login_session(self, auth_id: str) -> tuple[str, float]:
        """The session id and issue time a new cookie for ``auth_id`` carries: the
        current ones when the same user's login is renewed, else a fresh id and now.
        Memoised for the request, so the cookie quart-auth signs and the token
        ``_after_request`` announces agree to the microsecond."""
        if not has_request_context():
            return new_session_id(), time.time()
        memo = g.get(_LOGIN_MEMO)
        if memo is not None and memo[0] == auth_id:
            return str(memo[1]), float(memo[2])
        current = self.current_token()
        if current is not None and current.user == auth_id:
            session = current.session_id, current.issued_at
        else:
            session = new_session_id(), time.time()
        setattr(g, _LOGIN_MEMO, (auth_id, *session))
        return session

    async def _after_request(self, response: Response) -> Response:
        """End, start or renew the session after a route logged in or out."""
        user = self.auth.load_user()
        if user.action is Action.PASS:
            return response
        old = self.current_token()
        if user.action is Action.DELETE:
            if old is not None:
                await self.lifecycle.ended(old, "logout")
            return response
        auth_id = str(user.auth_id)
        session_id, issued_at = self._login_session(auth_id)
        signed_at = float(int(time.time()))  # itsdangerous's timestamp, which expiry counts from
        new = SessionToken(auth_id, session_id, issued_at, signed_at + self.duration + 1)
        if old is not None and old.session_id == session_id:
            await self.lifecycle.renewed(new)
            return response
        if old is not None:
            await self.lifecycle.ended(old, "login")
        await self.lifecycle.started(new)
        return response


def _cookies() -> Mapping[str, str]:
    if has_request_context():
        return request.cookies
    if has_websocket_context():
        return websocket.cookies
    return {}

"""Who is on the other end: quart-auth sessions, their ids, revocation and expiry.

A session is one login in one browser (all its tabs). quart-auth's cookie is a signed
token of the user's ``auth_id`` and a whole-second timestamp, so two logins of one user
in the same second give the very same cookie and nothing in it names the login. quartdash
therefore signs a random session id into the token beside the auth id, through
quart-auth's documented ``serializer_class`` hook, so quart-auth's own API keeps seeing
the auth id alone. The id survives ``renew_login()``; any login of a different user in
the same browser ends the old session and starts a new one.

Revocation is checked inside that serializer: a revoked cookie is no login at all, for
the WebSocket and for ``current_user`` in every route alike, until it would have expired
anyway. The revocation list itself is plain data (``Revocations``), kept by the backplane
so every worker sees the same list.

Logout and login are noticed after the route that did them, in an ``after_request`` hook:
plain ``quart_auth.logout_user()`` anywhere is enough.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Quart, Response, g, has_request_context, has_websocket_context, request, websocket
from quart_auth import Action, AuthUser, QuartAuth

_TOKEN_MEMO = "_quartdash_session_token"
_LOGIN_MEMO = "_quartdash_login_session"
_MISSING = object()


def new_session_id() -> str:
    """A fresh session id: 128 random bits in hex (it appears in admin URLs and on
    command lines, where a leading ``-`` would read as an option)."""
    return secrets.token_hex(16)


def session_hash(session_id: str | None) -> str:
    """A short, stable digest of a session id for log lines (never the id or the cookie)."""
    if session_id is None:
        return "-"
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class SessionToken:
    """What a valid auth cookie says: whose login, which session, valid until when."""

    user: str
    session_id: str
    issued_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the revocation list, kept until ``until`` (when every token it can
    match has expired anyway). Either one session, or every token of ``user`` issued at
    or before ``before``."""

    until: float
    session: str | None = None
    user: str | None = None
    before: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Revocation:
        return cls(float(data["until"]), data.get("session"), data.get("user"),
                   None if data.get("before") is None else float(data["before"]))


class Revocations:
    """The revocation list: pure data, consulted synchronously by the cookie serializer."""

    def __init__(self) -> None:
        self._sessions: dict[str, float] = {}
        self._users: dict[str, tuple[float, float]] = {}

    def add(self, entry: Revocation) -> None:
        if entry.session is not None:
            self._sessions[entry.session] = max(entry.until, self._sessions.get(entry.session, 0))
        if entry.user is not None and entry.before is not None:
            before, until = self._users.get(entry.user, (entry.before, entry.until))
            self._users[entry.user] = (max(before, entry.before), max(until, entry.until))

    def revoked(self, token: SessionToken) -> bool:
        """True if this token may no longer be used."""
        if token.session_id in self._sessions:
            return True
        user = self._users.get(token.user)
        # Token timestamps are whole seconds: one issued in the second of a user-wide
        # revocation counts as before it (a re-login within that second must repeat).
        return user is not None and token.issued_at <= user[0]

    def purge(self, now: float) -> None:
        """Forget entries whose tokens have all expired."""
        self._sessions = {sid: until for sid, until in self._sessions.items() if until > now}
        self._users = {u: entry for u, entry in self._users.items() if entry[1] > now}

    def entries(self) -> list[Revocation]:
        """The list as entries, for copying it elsewhere (a backplane's store)."""
        return [Revocation(until, session=sid) for sid, until in self._sessions.items()] + [
            Revocation(until, user=user, before=before)
            for user, (before, until) in self._users.items()
        ]

    def __len__(self) -> int:
        return len(self._sessions) + len(self._users)


def _token(payload: Any, issued_at: float, max_age: int | None, raw: str | bytes) -> SessionToken:
    if isinstance(payload, dict) and isinstance(payload.get("u"), str):
        user, session_id = payload["u"], str(payload.get("s"))
    elif isinstance(payload, str):
        # A cookie signed before quartdash wrapped the serializer: its hash names it.
        raw_bytes = raw.encode() if isinstance(raw, str) else raw
        user, session_id = payload, hashlib.sha256(raw_bytes).hexdigest()[:22]
    else:
        raise BadSignature("not a session token")
    # itsdangerous accepts ages up to max_age in whole seconds, hence the + 1.
    expires_at = math.inf if max_age is None else issued_at + max_age + 1
    return SessionToken(user, session_id, issued_at, expires_at)


def session_serializer(
    base: type[URLSafeTimedSerializer],
    revocations: Revocations,
    login_session: Callable[[str], str],
) -> type[URLSafeTimedSerializer]:
    """quart-auth's serializer, signing a session id beside the auth id and refusing
    revoked tokens. ``login_session(auth_id)`` chooses the id a new cookie carries."""

    class SessionSerializer(base):  # type: ignore[valid-type,misc]
        def dumps(self, obj: Any, salt: str | bytes | None = None) -> Any:
            return super().dumps({"u": obj, "s": login_session(str(obj))}, salt)

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


class Sessions:
    """quart-auth, made session-aware: installs the serializer and the login/logout hook,
    and reads the current request's or websocket's session."""

    def __init__(
        self,
        auth: QuartAuth,
        revocations: Revocations,
        *,
        on_start: Callable[[SessionToken], Awaitable[None]],
        on_end: Callable[[SessionToken, str], Awaitable[None]],
        on_renew: Callable[[SessionToken], Awaitable[None]],
    ) -> None:
        if auth.mode not in (None, "cookie"):
            raise ValueError("quartdash sessions need QuartAuth(mode='cookie'): "
                             "a browser cannot put a bearer token on a WebSocket")
        self.auth = auth
        self._on_start, self._on_end, self._on_renew = on_start, on_end, on_renew
        auth.serializer_class = session_serializer(  # type: ignore[assignment]
            auth.serializer_class, revocations, self._login_session
        )

    def init_app(self, server: Quart) -> None:
        if self.auth not in server.extensions.get("QUART_AUTH", []):
            self.auth.init_app(server)
        if self.auth.mode != "cookie":
            raise ValueError("quartdash sessions need QuartAuth(mode='cookie')")
        server.after_request(self._after_request)

    @property
    def duration(self) -> float:
        """How long a token lives (quart-auth's ``QUART_AUTH_DURATION``), in seconds."""
        return float(self.auth.duration or 0)

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
    def _login_session(self, auth_id: str) -> str:
        """The session id a new cookie for ``auth_id`` carries: the current one when the
        same user's login is renewed, else a fresh one (memoised for the request)."""
        if not has_request_context():
            return new_session_id()
        memo = g.get(_LOGIN_MEMO)
        if memo is not None and memo[0] == auth_id:
            return str(memo[1])
        current = self.current_token()
        session_id = current.session_id if current and current.user == auth_id else new_session_id()
        setattr(g, _LOGIN_MEMO, (auth_id, session_id))
        return session_id

    async def _after_request(self, response: Response) -> Response:
        """End, start or renew the session after a route logged in or out."""
        user = self.auth.load_user()
        if user.action is Action.PASS:
            return response
        old = self.current_token()
        if user.action is Action.DELETE:
            if old is not None:
                await self._on_end(old, "logout")
            return response
        auth_id = str(user.auth_id)
        session_id = self._login_session(auth_id)
        now = float(int(time.time()))
        token = SessionToken(auth_id, session_id, now, now + self.duration + 1)
        if old is not None and old.session_id == session_id:
            await self._on_renew(token)
            return response
        if old is not None:
            await self._on_end(old, "login")
        await self._on_start(token)
        return response


def _cookies() -> Mapping[str, str]:
    if has_request_context():
        return request.cookies
    if has_websocket_context():
        return websocket.cookies
    return {}

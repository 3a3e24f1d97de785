"""The admin HTTP API: list and force-close connections and sessions.

Mounted at ``{routes_pathname_prefix}_quartdash/admin/`` only when the app has an admin
predicate or an admin token. Who may call it:

* a bearer token equal to ``QUARTDASH_ADMIN_TOKEN`` (compared in constant time), for
  scripts and the ``quartdash`` command; or
* the admin page's sign-in cookie, which a browser gets by posting that token once to
  the page's sign-in form (``observe/admin_page.py``): a browser cannot put a bearer
  token on a navigation or a WebSocket; or
* a logged-in user (quart-auth) whom the ``admin`` predicate admits.

No credentials answer 401; wrong ones, or a user who is no admin, 403. A state-changing
call authenticated by a cookie must come from a page the origin policy allows (an
``Origin`` or ``Sec-Fetch-Site`` that says so): the cookie rides along on any site's
form post, the token does not (``csrf.py``, the check apps use too). A WebSocket
handshake is a GET that no cross-site check of ``csrf.py`` covers, yet a page of any
site can open one with the cookies attached: there the ``Origin`` must pass the origin
policy (Dash's ``"*"`` not counting), and must be present unless the bearer token is
the credential.

``Admission`` is the check, shared by the admin API, the metrics and the admin page,
in a request's context or a WebSocket's alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Blueprint, Response, current_app, has_websocket_context, request, websocket
from werkzeug.exceptions import HTTPException

from quartdash.auth.csrf import cross_site_refusal

if TYPE_CHECKING:
    from quart_auth import AuthUser

    from quartdash.auth.origin import OriginPolicy
    from quartdash.auth.sessions import Sessions, SessionToken
    from quartdash.cluster.registry import ConnectionRegistry

AdminPredicate = Callable[["AuthUser"], "bool | Awaitable[bool]"]

#: The admin page's sign-in cookie (``Admission.sign_in_cookie``).
SIGN_IN_COOKIE = "quartdash_admin"
#: How long a sign-in with the token lasts, in seconds (8 hours): the cookie's
#: ``Max-Age`` and the signature's age limit, both. It cannot be revoked one by one:
#: changing ``QUARTDASH_ADMIN_TOKEN`` (or the secret key) ends every sign-in at once.
SIGN_IN_SECONDS = 8 * 3600
_SIGN_IN_SALT = "quartdash-admin-page"


def _json(data: Any, status: int = 200, **headers: str) -> Response:
    # Who is connected is nobody's to cache.
    return Response(orjson.dumps(data), status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store", **headers})


def _error(status: int, message: str, **headers: str) -> Response:
    return _json({"error": message}, status, **headers)


async def _is_admin(predicate: AdminPredicate, user: AuthUser) -> bool:
    verdict = predicate(user)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    return bool(verdict)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a caller is not admitted: 401 (no credentials) or 403, and a message."""

    status: int
    message: str
    #: The answer as ``csrf.py`` gave it, if it refused.
    answer: Response | None = None

    def response(self) -> Response:
        """The JSON answer the admin API gives."""
        if self.answer is not None:
            return self.answer
        headers = {"WWW-Authenticate": 'Bearer realm="quartdash"'} if self.status == 401 else {}
        return _error(self.status, self.message, **headers)


@dataclass(frozen=True, slots=True)
class Admitted:
    """Who passed, and by what: ``"token"`` (the bearer token), ``"sign-in"`` (the admin
    page's cookie, got with the token), ``"user"`` (a user the predicate admits, with
    the session whose cookie proved it)."""

    by: Literal["token", "sign-in", "user"]
    user: AuthUser | None = None
    session: SessionToken | None = None


def _context() -> Any:
    """The current request, or the current WebSocket handshake."""
    return websocket if has_websocket_context() else request


class Admission:
    """The admin check of the current request or WebSocket (module docstring).

    Awaited as is (``await admission()``), it is what the admin API's and the metrics'
    routes run before answering: None if the caller is an admin, else the JSON refusal
    to answer with. ``admit`` says who passed, for a route that needs to know (the
    admin page's socket, which checks again every round with ``still_admitted``)."""

    __slots__ = ("admin_token", "origin_policy", "predicate", "sessions")

    def __init__(self, *, origin_policy: OriginPolicy, sessions: Sessions | None,
                 predicate: AdminPredicate | None, admin_token: str | None) -> None:
        self.origin_policy = origin_policy
        self.sessions = sessions
        self.predicate = predicate
        self.admin_token = admin_token

    async def __call__(self) -> Response | None:
        found = await self.admit()
        return found.response() if isinstance(found, Refusal) else None

    async def admit(self) -> Admitted | Refusal:
        """Credentials, then the cross-site check that suits them (module docstring)."""
        socket = has_websocket_context()
        if socket and websocket.headers.get("Origin") is not None:
            # A page of another site learns nothing of the credentials' validity.
            problem = self._handshake_problem()
            if problem is not None:
                return problem
        found = await self.identify()
        if isinstance(found, Refusal):
            return found
        by_cookie = found.by != "token"
        if socket:
            if by_cookie and websocket.headers.get("Origin") is None:
                return Refusal(403, "cross-site request refused: no Origin")
            return found
        refusal = cross_site_refusal(self.origin_policy, by_cookie=by_cookie)
        if refusal is not None:
            return Refusal(refusal.status_code, "cross-site request refused", refusal)
        return found

    def _handshake_problem(self) -> Refusal | None:
        # Dash's "*" opens the app's socket to every page; not the admin's.
        policy = self.origin_policy
        if policy.allow_any:
            policy = dataclasses.replace(policy, allow_any=False)
        problem = policy.check(websocket.scheme, websocket.headers)
        return None if problem is None else Refusal(403, f"cross-site request refused: {problem}")

    async def identify(self) -> Admitted | Refusal:
        """Who the credentials say the caller is, with no cross-site check."""
        header = _context().headers.get("Authorization")
        scheme, _, credential = (header or "").partition(" ")
        # Only a bearer token is this API's credential: another scheme (a proxy's Basic
        # login in front of a staging site) leaves the cookies to say who it is.
        if scheme.lower() == "bearer":
            if not self.check_token(credential.strip()):
                return Refusal(403, "invalid credentials")
            return Admitted("token")
        if self._signed_in():
            return Admitted("sign-in")
        found = await self.sessions.identify() if self.sessions is not None else None
        if found is None:
            return Refusal(401, "authentication required")
        user, session = found
        if self.predicate is None or not await _is_admin(self.predicate, user):
            return Refusal(403, "not an administrator")
        return Admitted("user", user, session)

    async def still_admitted(self, admitted: Admitted) -> bool:
        """Whether the credentials of this context still admit ``admitted``: a sign-in
        has not expired; a user's session is neither revoked (logout, the admin API)
        nor expired, and the predicate still admits the user. The token is for good."""
        if admitted.by == "token":
            return True
        if admitted.by == "sign-in":
            return self._signed_in()
        if self.sessions is None or admitted.session is None or admitted.user is None:
            return False
        cookie = _context().cookies.get(str(self.sessions.auth.cookie_name))
        session = self.sessions.read(cookie)  # not memoised: revocation shows at once
        if session is None or session.session_id != admitted.session.session_id:
            return False
        return self.predicate is not None and await _is_admin(self.predicate, admitted.user)

    # --- the token, and the admin page's sign-in with it ----------------------------------
    def check_token(self, candidate: str) -> bool:
        """Whether ``candidate`` is the admin token (constant time)."""
        return bool(self.admin_token) and hmac.compare_digest(
            candidate.encode(), str(self.admin_token).encode())

    def _serializer(self) -> URLSafeTimedSerializer:
        keys: list[Any] = [*(current_app.config.get("SECRET_KEY_FALLBACKS") or []),
                           current_app.secret_key]
        # The token's fingerprint is in the salt, which is mixed with the secret key:
        # a new token ends every sign-in, and a cookie shows nothing one could test
        # guesses of the token against (its payload is a random nonce).
        return URLSafeTimedSerializer(keys, salt=_SIGN_IN_SALT + self._token_fingerprint())

    def _token_fingerprint(self) -> str:
        """What binds a sign-in cookie to the token (a new token ends every sign-in);
        part of the signature's salt, never of the cookie."""
        digest = hmac.new(str(self.admin_token).encode(), b"quartdash-admin-sign-in",
                          hashlib.sha256)
        return digest.hexdigest()[:32]

    def sign_in_cookie(self) -> str:
        """The value of a new sign-in cookie (the caller checked the token), signed with
        the app's secret key and valid for ``SIGN_IN_SECONDS``."""
        return str(self._serializer().dumps(secrets.token_urlsafe(16)))

    def _signed_in(self) -> bool:
        cookie = _cookies().get(SIGN_IN_COOKIE)
        if not cookie or not self.admin_token:
            return False
        try:
            self._serializer().loads(cookie, max_age=SIGN_IN_SECONDS)
        except BadSignature:
            return False
        return True


def _cookies() -> Mapping[str, str]:
    return _context().cookies  # type: ignore[no-any-return]


def admission(
    *,
    origin_policy: OriginPolicy,
    sessions: Sessions | None,
    predicate: AdminPredicate | None,
    admin_token: str | None,
) -> Admission:
    """The admin check for every route it guards (the API, the metrics, the admin
    page): await it for None if the caller is an admin, else the JSON refusal to answer
    with (401 without credentials, 403 with wrong ones)."""
    return Admission(origin_policy=origin_policy, sessions=sessions, predicate=predicate,
                     admin_token=admin_token)


def admin_blueprint(
    route_prefix: str, connections: ConnectionRegistry, authorize: Admission
) -> Blueprint:
    """The admin API over ``connections``, mounted under ``route_prefix`` (Dash's
    ``routes_pathname_prefix``), every route guarded by ``authorize`` (``admission``)."""
    prefix = route_prefix.rstrip("/") + "/_quartdash/admin"
    api = Blueprint("quartdash_admin", __name__, url_prefix=prefix)

    @api.before_request
    async def guard() -> Response | None:
        # A function, not the Admission itself: Quart awaits only coroutine functions.
        return await authorize()

    @api.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.description or exc.name)

    @api.get("/connections")
    async def list_connections() -> Response:
        infos = await connections.list(
            user=request.args.get("user") or None, session=request.args.get("session") or None,
            topic=request.args.get("topic") or None,
        )
        return _json([info.to_json() for info in infos])

    @api.post("/connections/<connection_id>/close")
    async def close_connection(connection_id: str) -> Response:
        return _json({"closed": await connections.close(connection_id, reason=await _reason())})

    @api.post("/connections/close")
    async def close_everyone() -> Response:
        return _json({"closed": await connections.close(everyone=True, reason=await _reason())})

    @api.post("/sessions/<session_id>/close")
    async def close_session(session_id: str) -> Response:
        closed = await connections.close(session=session_id, reason=await _reason())
        return _json({"closed": closed})

    @api.post("/users/<user>/close")
    async def close_user(user: str) -> Response:
        return _json({"closed": await connections.close(user=user, reason=await _reason())})

    return api


async def _reason() -> str | None:
    """An optional ``{"reason": "..."}`` body: the close reason the browser is told."""
    body = await request.get_json(force=True, silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason[:200] if isinstance(reason, str) and reason else None

"""The admin HTTP API: list and force-close connections and sessions.

Mounted at ``{routes_pathname_prefix}_quartdash/admin/`` only when the app has an admin
predicate or an admin token. Who may call it:

* a bearer token equal to ``QUARTDASH_ADMIN_TOKEN`` (compared in constant time), for
  scripts and the ``quartdash`` command; or
* a logged-in user (quart-auth) whom the ``admin`` predicate admits.

No credentials answer 401; wrong ones, or a user who is no admin, 403. A state-changing
call authenticated by the cookie must come from a page the origin policy allows (an
``Origin`` or ``Sec-Fetch-Site`` that says so): the cookie rides along on any site's
form post, the token does not (``csrf.py``, the check apps use too).
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from quart import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from quartdash.auth.csrf import cross_site_refusal

if TYPE_CHECKING:
    from quart_auth import AuthUser

    from quartdash.auth.origin import OriginPolicy
    from quartdash.auth.sessions import Sessions
    from quartdash.cluster.registry import ConnectionRegistry

AdminPredicate = Callable[["AuthUser"], "bool | Awaitable[bool]"]


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


Admission = Callable[[], Awaitable["Response | None"]]


def admission(
    *,
    origin_policy: OriginPolicy,
    sessions: Sessions | None,
    predicate: AdminPredicate | None,
    admin_token: str | None,
) -> Admission:
    """The admin API's check of the current request, for every route it guards (the
    API, the metrics, the admin page): None if the caller is an admin, else the JSON
    refusal to answer with (401 without credentials, 403 with wrong ones)."""

    async def authorize() -> Response | None:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, credential = header.partition(" ")
            if not admin_token or scheme.lower() != "bearer" or not hmac.compare_digest(
                credential.strip().encode(), admin_token.encode()
            ):
                return _error(403, "invalid credentials")
            return cross_site_refusal(origin_policy, by_cookie=False)
        found = await sessions.identify() if sessions is not None else None
        if found is None:
            return _error(401, "authentication required",
                          **{"WWW-Authenticate": 'Bearer realm="quartdash"'})
        user, _session_token = found
        if predicate is None or not await _is_admin(predicate, user):
            return _error(403, "not an administrator")
        return cross_site_refusal(origin_policy, by_cookie=True)

    return authorize


def admin_blueprint(
    route_prefix: str, connections: ConnectionRegistry, authorize: Admission
) -> Blueprint:
    """The admin API over ``connections``, mounted under ``route_prefix`` (Dash's
    ``routes_pathname_prefix``), every route guarded by ``authorize`` (``admission``)."""
    prefix = route_prefix.rstrip("/") + "/_quartdash/admin"
    api = Blueprint("quartdash_admin", __name__, url_prefix=prefix)
    api.before_request(authorize)

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

"""quartdash's Quart server layer: Dash's Quart backend with two routes replaced.

Dash's ``QuartDashServer`` keeps doing everything else (assets, component suites, the
index, error handlers). Replaced here: the HTTP callback route, so that sync callbacks
leave the event loop, and the WebSocket route, which becomes ``route.serve_socket``.

The HTTP callback route is held to what the socket is held to: with ``auth`` it needs a
valid login (401), a body is at most ``max_message_bytes`` (413), each session (or,
without ``auth``, each address) has the socket's message and byte rates (429) and
callbacks in flight (429), sync callbacks share the pool fairly, and a callback that
runs only over the socket (a persistent one) is refused (400). A malformed request is
the client's mistake: a JSON 400 saying what is wrong, where Dash answers 500 and logs a
traceback (docs/differences-from-dash.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson
from quart import Response, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from quartdash._compat.dash import DashQuartServer, http_context, quiet_routes, request_json
from quartdash._compat.quart import cap_body
from quartdash.callbacks.runner import execute, outcome, prepare
from quartdash.exceptions import ClientError
from quartdash.transport.handover import MAX_REDEEM_BYTES, redeem, valid_token
from quartdash.transport.limits import client_address
from quartdash.transport.route import serve_socket

if TYPE_CHECKING:
    import dash
    from quart_auth import AuthUser

    from quartdash.auth.origin import OriginPolicy
    from quartdash.auth.sessions import Sessions
    from quartdash.callbacks.threads import FairPool
    from quartdash.cluster.backplane import Backplane
    from quartdash.config import Settings
    from quartdash.transport.handover import Handovers
    from quartdash.transport.limits import ClientLimits
    from quartdash.transport.services import SocketServices

log = logging.getLogger("quartdash")


class ServedApp(Protocol):
    """What these routes use of ``QuartDash`` (which has all of it): named here rather
    than imported, so the app's module and its server's do not need each other."""

    settings: Settings
    sessions: Sessions | None
    origin_policy: OriginPolicy
    http_limits: ClientLimits
    pool: FairPool
    handovers: Handovers
    backplane: Backplane
    socket_services: SocketServices

    async def identity(self) -> tuple[AuthUser | None, str | None]: ...

    def cross_site_refusal(self, *, by_cookie: bool = True) -> Response | None: ...


class QuartDashServer(DashQuartServer):
    """The backend ``QuartDash`` runs on."""

    def run(self, dash_app: dash.Dash, host: str, port: int, debug: bool,
            **kwargs: Any) -> Any:
        """Dash's ``run``, except that debug mode's quiet routes leave every other
        logger alone (Dash's ``dictConfig`` silenced quartdash's own log lines)."""
        quiet_routes(dash_app)
        return super().run(dash_app, host, port, debug, **kwargs)

    def serve_callback(self, dash_app: dash.Dash) -> Callable[[], Any]:
        """The ``_dash-update-component`` view: sync callbacks run in the thread pool."""
        app = cast("ServedApp", dash_app)

        in_flight: dict[str, int] = {}

        async def _dispatch() -> Any:
            user, session_id = await app.identity()
            if app.sessions is not None and user is None:
                return _json_error(401, "authentication required")
            client = http_client(app, session_id)
            size = request.content_length
            if size is not None and size > app.settings.max_message_bytes:
                return _too_large(app.settings.max_message_bytes)
            # Counted in flight from here, while its body is still arriving: a client
            # that sends bodies slowly holds at most this many requests open.
            if in_flight.get(client, 0) >= app.settings.max_callbacks_in_flight:
                return _json_error(429, "too many callbacks in flight",
                                   **{"Retry-After": "1"})
            in_flight[client] = in_flight.get(client, 0) + 1
            try:
                return await _serve(client, size, user, session_id)
            finally:
                in_flight[client] -= 1
                if not in_flight[client]:
                    del in_flight[client]

        async def _serve(client: str, size: int | None, user: AuthUser | None,
                         session_id: str | None) -> Any:
            """The rest of ``_dispatch``, once the request counts in flight."""
            if size is None:  # a chunked body: its length is known once read, bounded
                data = await _bounded_body(app.settings.max_message_bytes, cache=True)
                if data is None:
                    return _too_large(app.settings.max_message_bytes)
                size = len(data)
            if not app.http_limits.take(client, size):
                return _json_error(429, "rate limit exceeded", **{"Retry-After": "1"})
            try:
                body = await request_json()
            except BadRequest:  # not JSON: Quart's own 400 would be an HTML page
                body = None
            if not isinstance(body, dict):
                return _json_error(400, "callback request must be a JSON object")
            try:
                # Dash reads the inputs and state lists here, trusting their shape.
                try:
                    g = http_context(dash_app, body)
                except Exception:  # pylint: disable=broad-exception-caught
                    raise ClientError("malformed callback request: inputs and state must "
                                      "be lists of {id, property, value}") from None
                g.quartdash_user, g.quartdash_session_id = user, session_id
                prepared = prepare(dash_app, g, body)
            except ClientError as exc:
                # A client's mistake: a JSON 400 and one warning line, never a traceback.
                _, text = outcome(str(body.get("output")), exc)
                return _json_error(400, text or str(exc))
            data = await execute(prepared, app.pool, (client,), "http")
            return g.dash_response.set_response(data=data)

        # Keep the view's identity as Dash's, for integrations keyed on it (CSRF exempts).
        _dispatch.__name__ = _dispatch.__qualname__ = "dispatch"
        _dispatch.__module__ = "dash.dash"
        return _dispatch

    def serve_websocket_callback(self, dash_app: dash.Dash) -> None:
        """Mount quartdash's WebSocket route where Dash's renderer looks for it."""
        path = dash_app.config.routes_pathname_prefix + "_dash-ws-callback"
        services = cast("ServedApp", dash_app).socket_services

        async def quartdash_websocket() -> Response | None:
            return await serve_socket(services)

        self.server.add_websocket(path, "quartdash_websocket", quartdash_websocket)


def http_client(app: ServedApp, session_id: str | None) -> str:
    """Whose budgets an HTTP request draws on: its session's, else its address's."""
    if session_id:
        return f"s:{session_id}"
    return "a:" + client_address(request.remote_addr, request.headers,
                                 app.origin_policy.trust_proxy_headers)


def handover_view(app: ServedApp) -> Callable[[], Any]:
    """``POST {prefix}_quartdash/handover``, body ``{"token": ...}``: 204 with the
    headers a WebSocket callback set (``handover.py``); 403 from another site, 413 for
    a body over ``MAX_REDEEM_BYTES``, 429 past the HTTP callbacks' rates, 400 for a
    malformed body, 404 for a token unknown (to this worker and to the backplane),
    used, expired or of another session."""

    misses = 0  # logged so far; one line says the rest are not

    async def quartdash_handover() -> Response:
        nonlocal misses
        refusal = app.cross_site_refusal()
        if refusal is not None:
            return refusal
        data = await _bounded_body(MAX_REDEEM_BYTES, cache=False)
        if data is None:
            return _json_error(413, f"body larger than {MAX_REDEEM_BYTES} bytes")
        _user, session_id = await app.identity()
        if not app.http_limits.take(http_client(app, session_id), len(data)):
            return _json_error(429, "rate limit exceeded", **{"Retry-After": "1"})
        try:
            token = orjson.loads(data).get("token")
        except (orjson.JSONDecodeError, AttributeError):
            token = None
        if not valid_token(token):
            return _json_error(400, 'the body must be {"token": "<handover token>"}')
        headers = await redeem(app.handovers, app.backplane, token, session_id)
        if headers is None:
            misses += 1
            if misses <= 5:
                log.warning("quartdash: handover not found: unknown, used, expired or of "
                            "another session (address=%s)%s", request.remote_addr,
                            "; no more such lines are logged" if misses == 5 else "")
            return _json_error(404, "no such handover")
        response = Response(status=204, headers={"Cache-Control": "no-store"})
        for name, value in headers:
            response.headers.add(name, value)
        return response

    return quartdash_handover


async def _bounded_body(limit: int, *, cache: bool) -> bytes | None:
    """The request's body, or None past ``limit`` bytes, read no further than that
    whether it came with a length or chunked (``request.max_content_length`` set in a
    view never reaches the body Quart already built: ``_compat.quart.cap_body``)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    cap_body(request.body, limit)
    try:
        data = await request.get_data(cache=cache, as_text=False)
    except RequestEntityTooLarge:
        return None
    assert isinstance(data, bytes)  # as_text=False
    return data if len(data) <= limit else None


def _too_large(limit: int) -> Response:
    return _json_error(413, f"callback request larger than {limit} bytes")


def _json_error(status: int, message: str, **headers: str) -> Response:
    return Response(orjson.dumps({"error": message}), status=status,
                    content_type="application/json", headers=headers)

"""quartdash's Quart server layer: Dash's Quart backend with two routes replaced.

Dash's ``QuartDashServer`` keeps doing everything else (assets, component suites, the
index, error handlers). Replaced here: the HTTP callback route, so that sync callbacks
leave the event loop, and the WebSocket route, which becomes ``wsroute.serve_socket``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dash.backends._quart import QuartDashServer as _DashQuartServer
from dash.backends._quart import QuartRequestAdapter
from quart import Response

from .dispatch import ClientError, execute, outcome, prepare
from .wsroute import serve_socket

if TYPE_CHECKING:
    import dash

    from .app import QuartDash


class QuartDashServer(_DashQuartServer):  # type: ignore[misc]
    """The backend ``QuartDash`` runs on."""

    def serve_callback(self, dash_app: dash.Dash) -> Callable[[], Any]:
        """The ``_dash-update-component`` view: sync callbacks run in the thread pool."""
        app: QuartDash = dash_app

        async def _dispatch() -> Any:
            body = await QuartRequestAdapter().get_json()
            if not isinstance(body, dict):
                return Response("callback request must be a JSON object", status=400)
            # pylint: disable=protected-access
            g = app._initialize_context(body)
            g.quartdash_user, g.quartdash_session_id = await app.identity()
            try:
                prepared = prepare(app, g, body)
            except ClientError as exc:
                _, text = outcome(str(body.get("output")), exc)  # logs one warning line
                return Response(text, status=400, content_type="text/plain")
            data = await execute(prepared, app.executor)
            return g.dash_response.set_response(data=data)

        # Keep the view's identity as Dash's, for integrations keyed on it (CSRF exempts).
        _dispatch.__name__ = _dispatch.__qualname__ = "dispatch"
        _dispatch.__module__ = "dash.dash"
        return _dispatch

    def serve_websocket_callback(self, dash_app: dash.Dash) -> None:
        """Mount quartdash's WebSocket route where Dash's renderer looks for it."""
        app: QuartDash = dash_app
        path = app.config.routes_pathname_prefix + "_dash-ws-callback"

        async def quartdash_websocket() -> Response | None:
            return await serve_socket(app)

        self.server.add_websocket(path, "quartdash_websocket", quartdash_websocket)

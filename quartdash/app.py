"""``QuartDash``: a ``dash.Dash`` that is an ASGI app, on quartdash's Quart server layer.

What it changes in Dash, and why:

* It is itself an ASGI callable (``hypercorn module:app``); Dash's object has a sync
  ``__call__``, so ASGI servers take it for WSGI and fail.
* Every callback, global ``@callback`` ones included, is registered when the server
  starts (Quart's ``before_serving``), not on the first HTTP request: a worker whose
  first contact is a WebSocket would otherwise answer "Callback function not found".
* WebSocket callbacks are on by default, and ``websocket=False`` on one callback really
  sends it over HTTP (Dash's renderer otherwise sends everything over the socket).
  Dash's hidden cancel callbacks (``cancel=`` of background callbacks) are HTTP-only
  too: the jobs to stop travel in the HTTP query string.
* One bounded thread pool runs every sync callback, so none runs on the event loop.
* Responses are serialised by ``encoding.encode_json`` (orjson, byte for byte Dash's
  output) in place of plotly's encoder, and the argument grouping Dash recomputes on
  every call is decided once per callback.
* With ``auth``, every socket belongs to a quart-auth session (``auth/sessions.py``); the
  app sees and closes them through ``app.connections`` (``cluster/registry.py``), shared
  by every worker through the backplane, and through the admin API (``auth/admin.py``).

The constructor reads every setting once (``config.Settings``) and builds the parts each
concern needs; the socket's route and handler get them as one ``SocketServices``
(``transport/services.py``), never the app.

Dash's private methods and state are reached through ``_compat/dash.py`` only:
``HookedDash`` (the base class) turns the private methods QuartDash changes into the
plainly named hooks below (``callbacks_set_up``, ``renderer_config``, ``worker_url``,
``scripts_html``), and ``install`` (run by the constructor, never at import) checks
Dash's version and swaps the encoder.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import dash
from dash.backends import get_backend
from quart import Quart, has_request_context
from quart.logging import default_handler, has_level_handler
from quart_auth import AuthUser, QuartAuth

from quartdash import signals
from quartdash._compat import dash as dash_compat
from quartdash._compat import hypercorn as hypercorn_compat
from quartdash._compat.dash import HookedDash, seen_by_dash_as_its_own
from quartdash.auth import csrf
from quartdash.auth.admin import AdminPredicate, admin_blueprint, admission
from quartdash.auth.origin import OriginPolicy
from quartdash.auth.secret_key import check_secret_keys
from quartdash.auth.sessions import SessionLifecycle, Sessions
from quartdash.browser import BrowserFiles, session_tag
from quartdash.callbacks.encoding import encode_json
from quartdash.callbacks.runner import debug_mode, prepare
from quartdash.callbacks.threads import FairPool
from quartdash.cluster.backplane import Backplane
from quartdash.cluster.factory import backplane_from_url
from quartdash.cluster.registry import ConnectionRegistry
from quartdash.config import Settings
from quartdash.transport.handover import Handovers
from quartdash.transport.http import QuartDashServer, handover_view
from quartdash.transport.limits import (
    ClientLimits,
)
from quartdash.transport.resume import Parking
from quartdash.transport.services import SocketServices

if TYPE_CHECKING:
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
    from quart import Response

#: Outputs of global ``@callback`` functions declared with ``websocket=False``.
HTTP_ONLY_GLOBAL: set[str] = set()

def _show_logs() -> None:
    """As Quart does for its app logger: quartdash's lines (connects, disconnects,
    refusals) show at INFO on stderr unless the application configured logging."""
    logger = logging.getLogger("quartdash")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not has_level_handler(logger):
        logger.addHandler(default_handler)


#: Where a Flask app's code finds its Quart equivalents (in the quartdash repository).
MIGRATION_DOC = "docs/migrating-from-flask.md"


def check_server(
    server: object, where: str = "QuartDash(server=...)", *, flags: bool = True
) -> None:
    """Refuse, with what to do instead, a ``server`` that is not a Quart app.

    Dash's own ``server`` takes a Flask, Quart or FastAPI app and picks the backend
    from it; QuartDash always runs on Quart, and without this check a Flask app given
    to it fails deep in Dash (``TypeError: cannot unpack non-iterable ABCMeta object``).
    What passes is what Dash accepts with ``backend="quart"``: ``True``, ``False``,
    ``None`` (as ``False``) and a ``quart.Quart``; only the app itself when not
    ``flags`` (``init_app``).

    Raises ``TypeError`` naming the migration page (``MIGRATION_DOC``)."""
    if isinstance(server, Quart) or (flags and server in (None, True, False)):
        return
    flask = sys.modules.get("flask")
    if flask is not None and isinstance(server, flask.Flask):
        raise TypeError(
            f"{where} got a Flask app, but QuartDash serves Dash on Quart: pass a "
            "quart.Quart app (server=quart.Quart(__name__)) or leave server out and use "
            "app.server, which is one. Flask code written for app.server (flask.request, "
            "before_request hooks, flask-login, flask-caching) has Quart equivalents: "
            f"see {MIGRATION_DOC} in the quartdash repository."
        )
    takes = ("a quart.Quart app, True (QuartDash makes one) or False (pass one to "
             "app.init_app() later)") if flags else "a quart.Quart app"
    raise TypeError(
        f"{where} takes {takes}, not {type(server).__module__}.{type(server).__qualname__}; "
        f"see {MIGRATION_DOC} in the quartdash repository."
    )


class QuartDash(HookedDash):
    """A Dash app served by Quart, with safe and fast WebSocket callbacks.

    Accepts every ``dash.Dash`` keyword, plus quartdash's own below: ``auth``,
    ``login_url``, ``admin`` and ``backplane`` (an object, or a URL as a setting), and
    every field of ``config.Settings`` by name (the limits, ``allowed_origins``,
    ``admin_token``, ...; ``secret_key`` is ``app.server.secret_key`` instead), each
    also read from ``app.server.config`` and the ``QUARTDASH_*`` environment;
    ``docs/configuration.md`` lists them with their defaults. ``app.settings`` holds
    what was read.
    """

    def __init__(
        self,
        name: str | None = None,
        server: bool | Quart = True,
        *,
        allowed_origins: Iterable[str] | None = None,
        trust_proxy_headers: bool = False,
        max_message_bytes: int | None = None,
        rate_limit: float | None = None,
        websocket_callbacks: bool = True,
        websocket_max_workers: int | None = None,
        auth: QuartAuth | bool | None = None,
        login_url: str | None = None,
        admin: AdminPredicate | None = None,
        admin_token: str | None = None,
        backplane: str | Backplane | None = None,
        max_connections_per_session: int | None = None,
        session_check_interval: float | None = None,
        resume_grace: float | None = None,
        send_timeout: float | None = None,
        max_pending_frames: int | None = None,
        max_pending_bytes: int | None = None,
        byte_rate_limit: float | None = None,
        max_callbacks_in_flight: int | None = None,
        max_connections_per_address: int | None = None,
        max_threads_per_client: int | None = None,
        handover_seconds: float | None = None,
        max_handovers: int | None = None,
        metrics: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        check_server(server)
        if not (backplane is None or isinstance(backplane, (str, Backplane))):
            # Quietly falling back to the in-process backplane would leave a logout
            # acting on one worker only.
            raise TypeError("backplane= takes a redis:// URL or a "
                            "quartdash.cluster.backplane.Backplane, not "
                            f"{type(backplane).__module__}.{type(backplane).__qualname__}")
        _show_logs()
        backend = kwargs.pop("backend", None)
        # What Dash takes for its Quart backend: the name in any case, or the class.
        if isinstance(backend, str):
            backend = backend.lower()
        if backend not in (None, "quart", QuartDashServer, get_backend("quart")):
            raise ValueError("QuartDash runs on Quart only; leave `backend` unset")
        # Every limit and switch, read and checked once (``config.py``).
        settings = Settings.load(
            {
                "allowed_origins": allowed_origins, "trust_proxy_headers": trust_proxy_headers,
                "max_message_bytes": max_message_bytes, "rate_limit": rate_limit,
                "byte_rate_limit": byte_rate_limit,
                "max_callbacks_in_flight": max_callbacks_in_flight,
                "max_connections_per_session": max_connections_per_session,
                "max_connections_per_address": max_connections_per_address,
                "max_pending_frames": max_pending_frames,
                "max_pending_bytes": max_pending_bytes, "send_timeout": send_timeout,
                "resume_grace": resume_grace, "handover_seconds": handover_seconds,
                "max_handovers": max_handovers,
                "session_check_interval": session_check_interval,
                "websocket_max_workers": websocket_max_workers,
                "max_threads_per_client": max_threads_per_client,
                "admin_token": admin_token or None,
                "backplane": backplane if isinstance(backplane, str) else None,
                "metrics": metrics,
            },
            server.config if isinstance(server, Quart) else None,
        )
        if isinstance(backplane, Backplane):  # an object in place of the URL setting
            settings = dataclasses.replace(settings, backplane=None)
        #: Every limit and switch, read and checked once (``config.py``).
        self.settings = settings
        dash_compat.install(encode_json)
        hypercorn_compat.install(settings.max_message_bytes, settings.rate_limit)
        allowed = [*settings.allowed_origins, *(kwargs.get("websocket_allowed_origins") or [])]
        # Everything the routes read is set before Dash's constructor mounts them.
        self.origin_policy = OriginPolicy.from_config(
            allowed, trust_proxy_headers=settings.trust_proxy_headers
        )
        if self.origin_policy.allow_any:
            # Dash's "*": browsers attach the user's cookies to a socket any page opens.
            if auth is not None and auth is not False:
                raise ValueError(
                    'allowed origins "*" with auth= would let any site act as the logged-in '
                    "user: list the origins of your own pages instead"
                )
            warnings.warn(
                'allowed origins "*": a page on any site may open this app\'s WebSocket',
                stacklevel=2,
            )
        threads = settings.threads()
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="quartdash-callback")
        #: The thread pool, at most ``max_threads_per_client`` threads per socket,
        #: session or (without auth) address at once (``callbacks/threads.py``).
        self.pool = FairPool(self.executor, settings.threads_per_client())
        #: Cookies and headers set by WebSocket callbacks, until the page takes them
        #: (``transport/handover.py``).
        self.handovers = Handovers(settings.handover_seconds, settings.max_handovers)
        #: Message and byte budgets of HTTP callbacks, per session or address.
        self.http_limits = ClientLimits(
            settings.rate_limit, settings.byte_rate_limit, settings.max_message_bytes)
        self._http_only: set[str] = set()
        self.auth = QuartAuth() if auth is True else (auth or None)
        if admin is not None and self.auth is None:
            raise ValueError("admin= admits logged-in users: it needs auth=")
        self.login_url = login_url
        self._admin = admin
        self._admin_token = settings.admin_token
        if self._admin_token is not None and len(self._admin_token) < 16:
            warnings.warn("QUARTDASH_ADMIN_TOKEN is shorter than 16 characters: easy to guess",
                          stacklevel=2)
        self.backplane = (backplane if isinstance(backplane, Backplane)
                          else backplane_from_url(settings.backplane))
        #: Counts of this process and its sibling workers (``observe/metrics.py``), or
        #: None with metrics off.
        self.metrics = None
        if settings.metrics:
            from quartdash.observe import metrics as metrics_module

            self.metrics = metrics_module.enable()
            if settings.metrics != "public" and admin is None and self._admin_token is None:
                warnings.warn("metrics=True admits the admin API's callers, and there are "
                              "none (no admin= nor QUARTDASH_ADMIN_TOKEN): every scrape will "
                              "be refused; set one, or metrics=\"public\"", stacklevel=2)
        # The signals go out with this app as sender, run as its server runs receivers.
        emit = signals.Emitter(self, lambda receiver: self.server.ensure_async(receiver))
        # Every start, renewal and end of a session, and their signals: with auth, logins
        # and logouts (``Sessions``); with or without, the registry's closes and checks.
        lifecycle = SessionLifecycle(self.backplane, emit, self.auth)
        self.sessions = None if self.auth is None else Sessions(
            self.auth, self.backplane.revocations, lifecycle
        )
        #: The connection registry (list, close, admin API).
        self.connections = ConnectionRegistry(
            self.backplane,
            lifecycle,
            emit,
            max_per_session=settings.max_connections_per_session or None,
            # With auth every socket has a session, bounded by the limit above.
            max_per_address=(settings.max_connections_per_address or None
                             if self.auth is None else None),
            check_interval=settings.session_check_interval,
            send_timeout=settings.send_timeout,
            max_topics=settings.max_topics_per_connection,
            drain_seconds=settings.drain_seconds,
        )
        #: Dropped sockets kept for a resume (``transport/resume.py``); None when
        #: resume_grace is 0.
        self.parking = (Parking(settings.resume_grace, self.connections.retire)
                        if settings.resume_grace else None)
        #: What the WebSocket route and handler use of this app, and nothing more
        #: (``transport/services.py``).
        self.socket_services = SocketServices(
            settings=settings, origin_policy=self.origin_policy, sessions=self.sessions,
            connections=self.connections, parking=self.parking, backplane=self.backplane,
            pool=self.pool, handovers=self.handovers,
            register_callbacks=self.register_callbacks,
            prepare=functools.partial(prepare, self, websocket=True),
            debug_mode=functools.partial(debug_mode, self),
            run_ws_hooks=functools.partial(dash_compat.run_ws_hooks, self),
            has_ws_hooks=functools.partial(dash_compat.has_ws_hooks, self),
            batch_delay=functools.partial(dash_compat.batch_delay, self),
        )

        user_server = server if isinstance(server, Quart) else None
        super().__init__(
            name,
            server=False if isinstance(server, Quart) else server,
            backend=QuartDashServer,
            websocket_callbacks=websocket_callbacks,
            websocket_max_workers=threads,
            **kwargs,
        )
        if user_server is not None:
            self.init_app(user_server)

    # --- serving ----------------------------------------------------------------------
    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """The ASGI entry point: ``hypercorn module:app`` serves the Quart server."""
        await self.server(scope, receive, send)

    def init_app(self, app: Quart | None = None, **kwargs: Any) -> None:
        """Dash's ``init_app``, plus what quartdash adds to the server: callback
        registration and the registry at start, sessions, and the admin API."""
        if app is not None:
            check_server(app, "QuartDash.init_app(...)", flags=False)
        super().init_app(app, **kwargs)
        server: Quart = self.server
        self._ensure_secret_key()
        self.browser = BrowserFiles(
            self.config.routes_pathname_prefix, self.config.requests_pathname_prefix
        )
        self.browser.register(server)
        server.add_url_rule(self.config.routes_pathname_prefix + "_quartdash/handover",
                            "quartdash_handover", handover_view(self), methods=["POST"])
        server.before_serving(self.register_callbacks)
        server.before_serving(self.connections.start)
        server.after_serving(self.connections.stop)
        if self.sessions is not None:
            self.sessions.init_app(server)
        authorize = admission(origin_policy=self.origin_policy, sessions=self.sessions,
                              predicate=self._admin, admin_token=self._admin_token)
        if self._admin is not None or self._admin_token is not None:
            server.register_blueprint(admin_blueprint(
                self.config.routes_pathname_prefix, self.connections, authorize))
            from quartdash.observe.admin_page import admin_page_blueprint

            server.register_blueprint(admin_page_blueprint(
                self.config.routes_pathname_prefix, self.config.requests_pathname_prefix,
                self.connections, authorize, self.origin_policy, self.metrics))
        if self.metrics is not None:
            from quartdash.observe.metrics import metrics_blueprint

            server.register_blueprint(metrics_blueprint(
                self.config.routes_pathname_prefix, self.metrics,
                None if self.settings.metrics == "public" else authorize))
            server.before_serving(self.metrics.start)
            server.after_serving(self.metrics.stop)

    async def register_callbacks(self) -> None:
        """Register every callback now (idempotent): at server start in every worker,
        and again defensively at the first WebSocket in case the ASGI server skipped
        the lifespan startup. Runs in a request context so layout functions that read
        the request still work."""
        if self.callbacks_registered:
            return
        async with self.server.test_request_context(self.config.routes_pathname_prefix):
            self.register_callbacks_now()

    def callbacks_set_up(self, specs: list[dict[str, Any]], cancel_outputs: set[str]) -> None:
        """Mark each server-side callback with the transport it uses, so the renderer
        routes it (per-callback flags) and the socket refuses what is HTTP-only. Dash's
        hidden cancel callbacks (``cancel_outputs``, of ``cancel=`` of background
        callbacks) read the jobs to stop from the HTTP query string: they stay on HTTP."""
        self._http_only |= cancel_outputs
        http_only = self._http_only_outputs()
        for spec in specs:
            if spec.get("clientside_function") is not None or spec.get("background"):
                continue
            entry = self.callback_map.get(spec["output"])
            if self.websocket_callbacks:
                spec["websocket"] = spec["output"] not in http_only
            if entry is not None:
                entry["websocket"] = bool(spec.get("websocket"))
                # Dash keeps this flag in the spec only; the HTTP route refuses these.
                entry["persistent"] = bool(spec.get("persistent"))

    def _http_only_outputs(self) -> set[str]:
        """This app's callbacks that stay on HTTP. Global ``@callback(websocket=False)``
        outputs are kept process-wide (Dash's global list is), so only those this app
        registered count: another app's must not turn off this one's socket."""
        registered: set[str] = set(self.callback_map)
        return self._http_only | (HTTP_ONLY_GLOBAL & registered)

    def renderer_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Dash's page configuration, plus quartdash's: per-callback transports, and
        where the page goes on a lost session and takes a WebSocket callback's cookies."""
        socket = config.get("websocket")
        if socket is not None and self.websocket_callbacks:
            # Globally "enabled" makes the renderer ignore per-callback flags.
            socket["enabled"] = not self._http_only_outputs()
        # Where the page goes when the server ends its session (4401/4408).
        config["quartdash"] = {"login_url": self.login_url}
        # Where the page takes the cookies and headers a WebSocket callback set.
        config["quartdash"]["handover_url"] = (
            self.config.requests_pathname_prefix + "_quartdash/handover")
        return config

    def worker_url(self) -> str:
        """quartdash's SharedWorker in place of Dash's, one per session (browser.py)."""
        token = None
        if self.sessions is not None and has_request_context():
            token = self.sessions.current_token()
        tag = session_tag(self.server.secret_key, token.session_id) if token else None
        return self.browser.worker_url(tag)

    def scripts_html(self, dash_scripts: str) -> str:
        """Dash's scripts, then quartdash's page script, before the renderer starts."""
        return dash_scripts + "\n" + self.browser.page_script_tag()

    @seen_by_dash_as_its_own
    def callback(self, *args: Any, **kwargs: Any) -> Any:
        """Dash's ``app.callback``; ``websocket=False`` keeps that callback on HTTP."""
        decorator = super().callback(*args, **kwargs)
        if kwargs.get("websocket") is False:
            self._http_only.add(self.last_callback_output())
        return decorator

    # --- sessions ---------------------------------------------------------------------
    async def identity(self) -> tuple[AuthUser | None, str | None]:
        """The current request's or websocket's quart-auth user and session id, or
        ``(None, None)`` when it has no valid session (or the app has no ``auth``)."""
        found = await self.sessions.identify() if self.sessions is not None else None
        return (found[0], found[1].session_id) if found is not None else (None, None)

    def _ensure_secret_key(self) -> None:
        """The signing secret: the server's, else env ``QUARTDASH_SECRET_KEY``, else a
        random per-process one, with a warning where something signed must outlive the
        process or be shared between workers (sessions).

        A weak key (``secret_key.py``: shorter than 16 characters, or a placeholder such
        as ``change-me``) lets anyone sign a cookie for any user, an admin included: it
        is refused (``ValueError``) with ``auth``, warned about otherwise. Checked again
        when the server starts, for a key set after ``QuartDash()`` was built (the
        usual ``app.server.secret_key = ...``) and the fallbacks that still verify."""
        server = self.server
        signs_logins = self.auth is not None
        key = server.secret_key or self.settings.secret_key
        if key:
            # Warnings point at the app's ``QuartDash(...)`` line (through Dash's
            # constructor, which calls init_app).
            check_secret_keys([key], signs_logins=signs_logins, stacklevel=5)
        else:
            key = os.urandom(32).hex()
            if signs_logins:
                warnings.warn(
                    "no secret key (app.server.secret_key or QUARTDASH_SECRET_KEY): using a "
                    "random one, so logins end at restart and fail across workers",
                    stacklevel=5,
                )
        server.secret_key = key

        async def check_again() -> None:
            keys = [server.secret_key, *(server.config.get("SECRET_KEY_FALLBACKS") or [])]
            check_secret_keys([k for k in keys if k and k != key], signs_logins=signs_logins)

        server.before_serving(check_again)

    # --- requests from pages of other sites ---------------------------------------------
    def cross_site_refusal(self, *, by_cookie: bool = True) -> Response | None:
        """None when the current HTTP request may go on; else a JSON 403 to return as is.

        Call it first in every route that changes state on a ``POST`` (login, logout, a
        form of the app): a browser sends the user's cookie with a post from any site,
        and only ``Origin`` or ``Sec-Fetch-Site`` tell this app's pages from another's.
        It is the admin API's check, against the origin policy the WebSocket handshake
        uses (``csrf.py``). ``by_cookie=False`` lets a request with neither header
        through, for routes whose callers prove themselves otherwise (a bearer token).
        """
        return csrf.cross_site_refusal(self.origin_policy, by_cookie=by_cookie)


@seen_by_dash_as_its_own
def callback(*args: Any, **kwargs: Any) -> Any:
    """Dash's global ``@callback``; ``websocket=False`` keeps that callback on HTTP."""
    decorator = dash.callback(*args, **kwargs)
    if kwargs.get("websocket") is False:
        HTTP_ONLY_GLOBAL.add(dash_compat.last_global_callback_output())
    return decorator

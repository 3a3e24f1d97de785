"""``QuartDash``: a ``dash.Dash`` that is an ASGI app, on quartdash's Quart server layer.

What it changes in Dash, and why:

* It is itself an ASGI callable (``hypercorn module:app``); Dash's object has a sync
  ``__call__``, so ASGI servers take it for WSGI and fail.
* Every callback, global ``@callback`` ones included, is registered when the server
  starts (Quart's ``before_serving``), not on the first HTTP request: a worker whose
  first contact is a WebSocket would otherwise answer "Callback function not found".
* WebSocket callbacks are on by default, and ``websocket=False`` on one callback really
  sends it over HTTP (Dash's renderer otherwise sends everything over the socket).
* One bounded thread pool runs every sync callback, so none runs on the event loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import dash
from dash import _callback
from quart import Quart

from .limits import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RATE_LIMIT
from .origin import OriginPolicy
from .server import QuartDashServer

if TYPE_CHECKING:
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope

    from .connection import Connection

#: Outputs of global ``@callback`` functions declared with ``websocket=False``.
HTTP_ONLY_GLOBAL: set[str] = set()


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value is None else float(value)


def _default_threads() -> int:
    return min(32, (os.cpu_count() or 1) + 4)


class QuartDash(dash.Dash):  # type: ignore[misc]
    """A Dash app served by Quart, with safe and fast WebSocket callbacks.

    Accepts every ``dash.Dash`` keyword, plus those of the contract (API.md section 2).
    ``websocket_max_workers`` sizes the one thread pool that runs sync callbacks, over
    HTTP and WebSocket alike (default: ``min(32, cpus + 4)``).
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
        **kwargs: Any,
    ) -> None:
        backend = kwargs.pop("backend", None)
        if backend not in (None, "quart", QuartDashServer):
            raise ValueError("QuartDash runs on Quart only; leave `backend` unset")
        if max_message_bytes is None:
            max_message_bytes = int(
                _env_number("QUARTDASH_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES)
            )
        if rate_limit is None:
            rate_limit = _env_number("QUARTDASH_RATE_LIMIT", DEFAULT_RATE_LIMIT)
        if max_message_bytes <= 0 or rate_limit <= 0:
            raise ValueError("max_message_bytes and rate_limit must be positive")
        allowed = list(allowed_origins) if allowed_origins is not None else (
            _env_list("QUARTDASH_ALLOWED_ORIGINS") or []
        )
        allowed += list(kwargs.get("websocket_allowed_origins") or [])
        # Everything the routes read is set before Dash's constructor mounts them.
        self.origin_policy = OriginPolicy.from_config(
            allowed, trust_proxy_headers=trust_proxy_headers
        )
        self.max_message_bytes = max_message_bytes
        self.rate_limit = rate_limit
        threads = websocket_max_workers or _default_threads()
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="quartdash-callback")
        self.open_connections: set[Connection] = set()
        self._http_only: set[str] = set()

        user_server = server if isinstance(server, Quart) else None
        super().__init__(
            name,
            server=False if user_server is not None else server,
            backend=QuartDashServer,
            websocket_callbacks=websocket_callbacks,
            websocket_max_workers=threads,
            **kwargs,
        )
        if user_server is not None:
            self.init_app(user_server)
        self._ensure_secret_key()

    # --- serving ----------------------------------------------------------------------
    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """The ASGI entry point: ``hypercorn module:app`` serves the Quart server."""
        await self.server(scope, receive, send)

    def init_app(self, app: Quart | None = None, **kwargs: Any) -> None:
        """Dash's ``init_app``, plus callback registration when the server starts."""
        super().init_app(app, **kwargs)
        self.server.before_serving(self.register_callbacks)

    async def register_callbacks(self) -> None:
        """Register every callback now (idempotent): at server start in every worker,
        and again defensively at the first WebSocket in case the ASGI server skipped
        the lifespan startup. Runs in a request context so layout functions that read
        the request still work."""
        if self._got_first_request["setup_server"]:
            return
        async with self.server.test_request_context(self.config.routes_pathname_prefix):
            self._setup_server()

    def _setup_server(self) -> None:
        super()._setup_server()
        # Mark each server-side callback with the transport it uses, so the renderer
        # routes it (per-callback flags) and the socket refuses what is HTTP-only.
        http_only = self._http_only | HTTP_ONLY_GLOBAL
        for spec in self._callback_list:
            if spec.get("clientside_function") is not None or spec.get("background"):
                continue
            entry = self.callback_map.get(spec["output"])
            if self._websocket_callbacks:
                spec["websocket"] = spec["output"] not in http_only
            if entry is not None:
                entry["websocket"] = bool(spec.get("websocket"))

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = super()._config()
        socket = config.get("websocket")
        if socket is not None and self._websocket_callbacks:
            # Globally "enabled" makes the renderer ignore per-callback flags.
            socket["enabled"] = not (self._http_only | HTTP_ONLY_GLOBAL)
        return config

    def callback(self, *args: Any, **kwargs: Any) -> Any:
        """Dash's ``app.callback``; ``websocket=False`` keeps that callback on HTTP."""
        decorator = super().callback(*args, **kwargs)
        if kwargs.get("websocket") is False:
            self._http_only.add(self._callback_list[-1]["output"])
        return decorator

    def _ensure_secret_key(self) -> None:
        """The signing secret: the server's, else env ``QUARTDASH_SECRET_KEY``, else a
        random per-process one (enough while nothing signed must outlive the process)."""
        if not self.server.secret_key:
            self.server.secret_key = os.environ.get("QUARTDASH_SECRET_KEY") or os.urandom(32).hex()


def callback(*args: Any, **kwargs: Any) -> Any:
    """Dash's global ``@callback``; ``websocket=False`` keeps that callback on HTTP."""
    decorator = dash.callback(*args, **kwargs)
    if kwargs.get("websocket") is False:
        HTTP_ONLY_GLOBAL.add(_callback.GLOBAL_CALLBACK_LIST[-1]["output"])
    return decorator

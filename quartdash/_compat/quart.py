"""Quart internals quartdash relies on, in one place.

Quart builds a request's body buffer with the server-wide ``MAX_CONTENT_LENGTH``
(16 MiB by default) before any view runs, and setting ``request.max_content_length``
afterwards does not reach that buffer. A callback body sent chunked (no
``Content-Length``) would therefore be read up to 16 MiB and served, past
``max_message_bytes``. :func:`cap_body` lowers the buffer's own bound for one request,
so the read stops with ``RequestEntityTooLarge`` once the cap is passed.

:func:`current_websocket` is the object behind Quart's ``websocket`` proxy: the socket's
handler keeps it, so the tasks it starts reach the socket without the proxy's context.
:func:`asgi_send` is the server's ASGI ``send`` under it, where the server's own socket
is found (``servers.direct_writer``).
"""

from __future__ import annotations

from typing import Any

from quart import websocket
from quart.wrappers.request import Body


def cap_body(body: Body, limit: int) -> None:
    """Bound what ``body`` buffers to ``limit`` bytes (never raise a lower bound).

    Checked on each append by Quart itself; what arrived before this call is checked by
    the caller once the body is complete (``len(data) > limit``).
    """
    current = body._max_content_length  # pylint: disable=protected-access
    if current is None or current > limit:
        body._max_content_length = limit  # pylint: disable=protected-access


def current_websocket() -> Any:
    """The current ``quart.Websocket`` itself, not the context-bound proxy."""
    return websocket._get_current_object()  # type: ignore[attr-defined]  # pylint: disable=protected-access


def asgi_send(ws: Any) -> Any | None:
    """The ASGI ``send`` the server gave Quart for the socket ``ws`` (a
    ``quart.Websocket``): Quart keeps it as the first argument of its ``_send`` partial."""
    send = getattr(ws, "_send", None)
    args = getattr(send, "args", ())
    return args[0] if args else None

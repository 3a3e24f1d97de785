"""``set_props`` for callbacks: one message per call over a socket, Dash's way over HTTP."""

from __future__ import annotations

from typing import Any

import dash
from dash._callback_context import _get_from_context

from .connection import CallbackSocket


def set_props(component_id: str | dict[str, Any], props: dict[str, Any]) -> None:
    """Update props of any component from inside a callback.

    Over a WebSocket the update reaches the page at once, all props of the call in one
    message (Dash's own ``set_props`` sends one message per prop); over HTTP it is
    batched into the callback's response, exactly as in Dash.
    """
    socket = _get_from_context("dash_websocket", None)
    if isinstance(socket, CallbackSocket):
        socket.set_props(component_id, props)
    else:
        dash.set_props(component_id, props)

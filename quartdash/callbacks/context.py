"""``ctx``: Dash's callback context, plus who is calling.

``ctx.user`` is the quart-auth user of the callback's session (None without ``auth`` or
without a login) and ``ctx.session_id`` that session's id, over HTTP and WebSocket
alike. Everything else is Dash's ``callback_context`` unchanged.

``set_props``: one message per call over a socket, Dash's way over HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dash

from quartdash._compat.dash import CallbackContext, context_get, has_context
from quartdash.callbacks.socket import CallbackSocket

if TYPE_CHECKING:
    from quart_auth import AuthUser


class QuartDashCallbackContext(CallbackContext):
    """Dash's ``CallbackContext`` with the caller's identity."""

    @property
    @has_context
    def user(self) -> AuthUser | None:
        """The logged-in quart-auth user whose page made this call, or None."""
        user: AuthUser | None = context_get("quartdash_user")
        return user

    @property
    @has_context
    def session_id(self) -> str | None:
        """The id of the caller's session (one login in one browser), or None."""
        session_id: str | None = context_get("quartdash_session_id")
        return session_id


ctx = callback_context = QuartDashCallbackContext()


def set_props(component_id: str | dict[str, Any], props: dict[str, Any]) -> None:
    """Update props of any component from inside a callback.

    Over a WebSocket the update reaches the page at once, all props of the call in one
    message (Dash's own ``set_props`` sends one message per prop); over HTTP it is
    batched into the callback's response, exactly as in Dash.
    """
    socket = context_get("dash_websocket")
    if isinstance(socket, CallbackSocket):
        socket.set_props(component_id, props)
    else:
        dash.set_props(component_id, props)

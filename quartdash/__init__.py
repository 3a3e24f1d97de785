"""quartdash: Dash's callbacks over WebSockets on Quart, made safe for production.

Import everything from here as you would from ``dash``::

    from quartdash import QuartDash, html, dcc, callback, Input, Output, set_props, ctx
"""

from __future__ import annotations

from dash import (
    ALL,
    ALLSMALLER,
    MATCH,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    clientside_callback,
    dcc,
    html,
    no_update,
)
from dash.exceptions import PreventUpdate

from quartdash import signals
from quartdash.app import QuartDash, callback
from quartdash.callbacks.context import callback_context, ctx, set_props
from quartdash.callbacks.socket import CallbackSocket
from quartdash.cluster.models import ConnectionInfo
from quartdash.cluster.topics import Publisher
from quartdash.transport.protocol import CloseCode

__version__ = "0.1.0.dev0"

__all__ = [
    "ALL",
    "ALLSMALLER",
    "MATCH",
    "CallbackSocket",
    "ClientsideFunction",
    "CloseCode",
    "ConnectionInfo",
    "Input",
    "Output",
    "Patch",
    "PreventUpdate",
    "Publisher",
    "QuartDash",
    "State",
    "callback",
    "callback_context",
    "clientside_callback",
    "ctx",
    "dcc",
    "html",
    "no_update",
    "set_props",
    "signals",
]

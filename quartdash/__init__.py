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
    ctx,
    dcc,
    html,
    no_update,
)
from dash.exceptions import PreventUpdate

from .app import QuartDash, callback
from .connection import CallbackSocket
from .props import set_props
from .protocol import CloseCode

__version__ = "0.1.0.dev0"

__all__ = [
    "ALL",
    "ALLSMALLER",
    "MATCH",
    "CallbackSocket",
    "ClientsideFunction",
    "CloseCode",
    "Input",
    "Output",
    "Patch",
    "PreventUpdate",
    "QuartDash",
    "State",
    "callback",
    "clientside_callback",
    "ctx",
    "dcc",
    "html",
    "no_update",
    "set_props",
]

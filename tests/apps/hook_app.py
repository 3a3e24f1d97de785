"""An app whose Dash ``websocket_connect`` hook refuses a handshake with the close
reason given in the ``X-Reason`` header (``hypercorn tests.apps.hook_app:app``): the
reason of a hook is the app's text, of any length, and must still reach the page."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import dash

from quartdash import Input, Output, QuartDash, callback, dcc, html


@dash.hooks.websocket_connect()
def refuse_with_the_given_reason(ws: Any) -> Any:
    reason = ws.headers.get("x-reason")
    return True if reason is None else (4999, unquote(reason))


app = QuartDash(__name__, title="hooks")
app.layout = html.Div([dcc.Input(id="in"), html.Div(id="out")])


@callback(Output("out", "children"), Input("in", "value"))
def echo(value: str | None) -> str:
    return f"echo {value}"

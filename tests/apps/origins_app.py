"""An app configured as a stock Dash app would be, for the origin tests
(``hypercorn tests.apps.origins_app:app``): env ``ORIGINS_APP_ALLOWED`` (a JSON list) is
passed, unchanged, as Dash's own ``websocket_allowed_origins``. One callback echoes
``in.value`` to ``out.children``, so a test proves the socket works, not only that the
handshake passed."""

from __future__ import annotations

import json
import os

from quartdash import Input, Output, QuartDash, callback, dcc, html

app = QuartDash(
    __name__,
    title="origins",
    websocket_allowed_origins=json.loads(os.environ.get("ORIGINS_APP_ALLOWED", "[]")),
)
app.layout = html.Div([dcc.Input(id="in"), html.Div(id="out")])


@callback(Output("out", "children"), Input("in", "value"))
def echo(value: str | None) -> str:
    return f"echo {value}"

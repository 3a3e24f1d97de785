"""Stock Dash 4.4 on Quart: the twin of examples/echo.py, the same components and callbacks
(without its labels and hints, which the bench never reads).

Served as ``hypercorn bench.stock_echo:server`` (stock Dash's object is not ASGI).
"""

from __future__ import annotations

import time

from dash import Dash, Input, Output, callback, dcc, html, set_props

app = Dash(__name__, backend="quart", websocket_callbacks=True, title="stock echo")
server = app.server
app.layout = html.Div(
    [
        dcc.Input(id="in", value="", debounce=False),
        html.Div(id="out"),
        html.Button("go", id="go"),
        html.Div(id="prog"),
        html.Div(id="done"),
        html.Button("slow", id="slow"),
        html.Div(id="slow-out"),
    ]
)


@callback(Output("out", "children"), Input("in", "value"))
async def echo(value: str | None) -> str | None:
    return value


@callback(Output("done", "children"), Input("go", "n_clicks"), prevent_initial_call=True)
async def stream(n_clicks: int) -> str:
    for i in range(1, n_clicks + 1):
        set_props("prog", {"children": i})
    return "done"


@callback(Output("slow-out", "children"), Input("slow", "n_clicks"), prevent_initial_call=True)
def slow(n_clicks: int) -> str:
    time.sleep(1)
    return f"slow {n_clicks}"

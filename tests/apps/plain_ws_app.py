"""An app with a WebSocket route of its own beside quartdash's
(``tests.apps.plain_ws_app:app``): ``/plain`` echoes what it receives. A stop must not
wait for such a socket: it is not quartdash's to close."""

from __future__ import annotations

from quart import websocket

from quartdash import Input, Output, QuartDash, dcc, html

app = QuartDash(__name__, title="plain socket")
app.layout = html.Div([dcc.Input(id="in"), html.Div(id="out")])


@app.callback(Output("out", "children"), Input("in", "value"))
async def echo(value: str | None) -> str | None:
    return value


@app.server.websocket("/plain")
async def plain() -> None:
    while True:
        await websocket.send(await websocket.receive())

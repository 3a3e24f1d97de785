"""An app with a WebSocket route of its own beside quartdash's
(``tests.apps.plain_ws_app:app``): ``/plain`` echoes what it receives. A stop must not
wait for such a socket: it is not quartdash's to close. ``/direct`` says whether the
server gives its sockets a direct write (``transport/direct.py``): ``yes`` or ``no``."""

from __future__ import annotations

from quart import websocket

from quartdash import Input, Output, QuartDash, dcc, html
from quartdash._compat import servers
from quartdash._compat.quart import current_websocket

app = QuartDash(__name__, title="plain socket")
app.layout = html.Div([dcc.Input(id="in"), html.Div(id="out")])


@app.callback(Output("out", "children"), Input("in", "value"))
async def echo(value: str | None) -> str | None:
    return value


@app.server.websocket("/plain")
async def plain() -> None:
    while True:
        await websocket.send(await websocket.receive())


@app.server.websocket("/direct")
async def direct() -> None:
    await websocket.accept()
    found = servers.direct_writer(current_websocket()) is not None
    await websocket.send("yes" if found else "no")

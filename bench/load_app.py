"""The load generator's server: a persistent-style stream per socket, at a set rate.

``hypercorn bench.load_app:app``. A socket that sends the ``tick`` callback request
(n_clicks = rate in Hz) gets ``set_props("clock", {"children": <server time>})`` at
that rate until it closes; the client measures the delay from that time to arrival.
"""

from __future__ import annotations

import asyncio
import time

from quartdash import Input, Output, QuartDash, callback, ctx, html, set_props

app = QuartDash(__name__, title="load")
app.layout = html.Div([html.Button("tick", id="tick"), html.Div(id="clock"), html.Div(id="end")])


@app.server.route("/_tasks")
async def tasks() -> dict[str, int]:
    """For the soak: how many asyncio tasks the server holds (one per socket and
    stream, plus a few); it must stay flat over time."""
    return {"tasks": len(asyncio.all_tasks())}


@callback(Output("end", "children"), Input("tick", "n_clicks"), prevent_initial_call=True)
async def tick(rate: float) -> str:
    loop = asyncio.get_running_loop()
    start, i = loop.time(), 0
    while not ctx.websocket.is_shutdown:
        i += 1
        set_props("clock", {"children": time.time()})
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
    return "stopped"

"""A streaming app for the backpressure and resume tests (``hypercorn tests.apps.stream_app:app``).

``props`` streams set_props only, of about 1 KB each, to ``bulk``, and returns to
``props-done``. ``go`` (n_clicks = n) streams n steps at about ``STREAM_RATE`` a second: each step emits
the numbered event ``step`` and sets ``counter`` to the step's number; the callback
then returns "done n" to ``done``. It runs for the life of its socket and stops when
the socket closes for good, as a persistent callback does. ``deltas`` (n_clicks = n)
streams n changes to apply, alternately a ``Patch`` appending i to ``log`` and an
``extendData`` of i to ``graph``, beside 1 KB set_props to ``bulk``, and returns to
``deltas-done``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from quartdash import Input, Output, Patch, QuartDash, callback, ctx, dcc, html, set_props

STREAM_RATE = float(os.environ.get("STREAM_RATE", "1000"))
#: ``props`` also sets the counter's title to this many bytes: a figure-sized update, so
#: what a page that stops reading leaves behind outgrows the kernel's socket buffers.
PAD = "x" * int(os.environ.get("STREAM_PAD", "1000"))

app = QuartDash(__name__, title="stream")
app.layout = html.Div([
    html.Button("go", id="go"), html.Button("props", id="props"),
    html.Div(id="counter"), html.Div(id="bulk"), html.Div(id="done"), html.Div(id="props-done"),
    html.Button("deltas", id="deltas"), html.Div(id="log", children=[]), dcc.Graph(id="graph"),
    html.Div(id="deltas-done"),
])


async def paced(n: int) -> AsyncIterator[int]:
    """1 to n at STREAM_RATE a second, paced by the clock, not by sleeps, so the rate
    holds however long one step takes; ends early once the socket is closing."""
    socket = ctx.websocket
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(1, n + 1):
        if socket.is_shutdown:
            return
        yield i
        delay = start + i / STREAM_RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


def outcome(n: int) -> str:
    return "stopped" if ctx.websocket.is_shutdown else f"done {n}"


@callback(Output("done", "children"), Input("go", "n_clicks"), prevent_initial_call=True)
async def stream(n: int) -> str:
    async for i in paced(n):
        await ctx.websocket.emit("step", i)
        set_props("counter", {"children": i})
    return outcome(n)


@callback(Output("props-done", "children"), Input("props", "n_clicks"), prevent_initial_call=True)
async def props(n: int) -> str:
    async for i in paced(n):
        set_props("bulk", {"children": i, "title": PAD})
    return outcome(n)


@callback(Output("deltas-done", "children"), Input("deltas", "n_clicks"),
          prevent_initial_call=True)
async def deltas(n: int) -> str:
    async for i in paced(n):
        if i % 2:
            log = Patch()
            log.append(i)
            set_props("log", {"children": log})
        else:
            set_props("graph", {"extendData": [{"y": [[i]]}, [0], 1000]})
        set_props("bulk", {"children": i, "title": PAD})
    return outcome(n)

"""Echo: the smallest quartdash app, and the one the benchmarks and tests drive.

- typing in ``in`` runs an async callback that returns the value to ``out``;
- clicking ``go`` streams ``set_props("prog", {"children": i})`` n_clicks times over the
  WebSocket, then returns "done" to ``done``. ``n_clicks`` is whatever the client sends,
  so the stream stops at ``MAX_STREAM`` (10,000) and gives the event loop back every
  ``YIELD_EVERY`` (256) set_props: a client asking for 300,000 would otherwise hold the
  worker, and every other socket on it, for over a second and a half;
- clicking ``slow`` runs a *sync* callback that sleeps 1 s: it runs in the thread pool,
  so every other connection keeps answering meanwhile.

Run it: ``hypercorn examples.echo:app`` (add ``-w 2`` for two workers), then open
http://127.0.0.1:8000/.
"""

from __future__ import annotations

import asyncio
import time

from quartdash import Input, Output, PreventUpdate, QuartDash, callback, dcc, html, set_props

#: The most set_props one click streams, whatever ``n_clicks`` the client claims.
MAX_STREAM = 10_000
#: How many set_props go between two returns to the event loop (about a millisecond).
YIELD_EVERY = 256

HINT = {"margin": "18px 0 6px", "color": "#444"}

app = QuartDash(__name__, title="quartdash echo")
# The ids and callbacks are a contract (the tests and the benchmarks drive them); the
# headings and hints only tell a visitor what to try.
app.layout = html.Div(
    [
        html.H3("Echo: three kinds of callback over one WebSocket"),
        html.Label("Type here: an async callback sends your text back, just below.",
                   htmlFor="in", style={**HINT, "display": "block"}),
        dcc.Input(id="in", value="", debounce=False, placeholder="type something"),
        html.Div(id="out"),
        html.P("Click go, then again: click n streams the numbers 1 to n with set_props "
               "(counting below), then says done.", style=HINT),
        html.Button("go", id="go"),
        html.Div(id="prog"),
        html.Div(id="done"),
        html.P("Click slow, then type above: the sync callback sleeps 1 s in a thread, "
               "and your typing is still echoed at once.", style=HINT),
        html.Button("slow", id="slow"),
        html.Div(id="slow-out"),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@callback(Output("out", "children"), Input("in", "value"))
async def echo(value: str | None) -> str | None:
    """Return the input unchanged."""
    return value


@callback(Output("done", "children"), Input("go", "n_clicks"), prevent_initial_call=True)
async def stream(n_clicks: int) -> str:
    """Push one set_props per click count (at most ``MAX_STREAM``), in order, then report
    completion. The awaits let the worker serve its other sockets meanwhile, and let a
    closed socket cancel the stream."""
    if not isinstance(n_clicks, int) or isinstance(n_clicks, bool):
        raise PreventUpdate
    for i in range(1, min(n_clicks, MAX_STREAM) + 1):
        set_props("prog", {"children": i})
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return "done"


@callback(Output("slow-out", "children"), Input("slow", "n_clicks"), prevent_initial_call=True)
def slow(n_clicks: int) -> str:
    """A blocking callback: it must not delay anyone else."""
    time.sleep(1)
    return f"slow {n_clicks}"

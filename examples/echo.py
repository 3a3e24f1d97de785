"""Echo: the smallest quartdash app, and the one the benchmarks and tests drive.

- typing in ``in`` runs an async callback that returns the value to ``out``;
- clicking ``go`` streams ``set_props("prog", {"children": i})`` n_clicks times over the
  WebSocket, then returns "done" to ``done``;
- clicking ``slow`` runs a *sync* callback that sleeps 1 s: it runs in the thread pool,
  so every other connection keeps answering meanwhile.

Run it: ``hypercorn examples.echo:app`` (add ``-w 2`` for two workers), then open
http://127.0.0.1:8000/.
"""

from __future__ import annotations

import time

from quartdash import Input, Output, QuartDash, callback, dcc, html, set_props

app = QuartDash(__name__, title="quartdash echo")
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
    """Return the input unchanged."""
    return value


@callback(Output("done", "children"), Input("go", "n_clicks"), prevent_initial_call=True)
async def stream(n_clicks: int) -> str:
    """Push one set_props per click count, in order, then report completion."""
    for i in range(1, n_clicks + 1):
        set_props("prog", {"children": i})
    return "done"


@callback(Output("slow-out", "children"), Input("slow", "n_clicks"), prevent_initial_call=True)
def slow(n_clicks: int) -> str:
    """A blocking callback: it must not delay anyone else."""
    time.sleep(1)
    return f"slow {n_clicks}"

"""The page the browser-side tests drive: WebSocket callbacks (a set_props progress bar,
``get_prop`` mid-callback, a persistent stream), the event channel, and each
clientside-callback behaviour of Dash's documentation. Served by hypercorn:
``hypercorn tests.e2e.apps.browser_app:app``."""

from __future__ import annotations

import asyncio
import os

import dash

from quartdash import (
    ClientsideFunction,
    Input,
    Output,
    QuartDash,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    set_props,
)

app = QuartDash(__name__, title="quartdash browser checks")
if os.environ.get("BROWSER_APP_DASH_WORKER"):
    # Serve Dash's own worker instead of quartdash's: quartdash's extra messages must
    # not disturb it.
    app._get_worker_url = lambda: dash.Dash._get_worker_url(app)  # type: ignore[method-assign]

app.layout = html.Div([
    html.H3("WebSocket callbacks"),
    html.Button("Start", id="start"),
    html.Progress(id="bar", max=100, value=0),
    html.Div(id="bar-text"),
    html.Div(id="bar-done"),
    dcc.Input(id="field", value="typed in the page"),
    html.Button("Read", id="read"),
    html.Div(id="read-out"),
    html.Div("0", id="ticker"),
    html.H3("Event channel"),
    dcc.Input(id="event-count", type="number", value=1000),
    html.Button("Emit", id="emit"),
    html.Div(id="emit-done"),
    html.Div(id="events-seen"),
    html.H3("Clientside"),
    dcc.Input(id="cs-in", value="abc"),
    html.Div(id="cs-upper"),
    dcc.Input(id="cs-n", type="number", value=21),
    html.Div(id="cs-double"),
    html.Div(id="cs-promise"),
    html.Button("Left", id="cs-left"),
    html.Button("Right", id="cs-right"),
    html.Div(id="cs-which"),
    html.Button("Even only", id="cs-even"),
    html.Div("untouched", id="cs-even-out"),
    html.Div(id="cs-key"),
    html.Button("Server", id="ws-to-store"),
    dcc.Store(id="ws-store"),
    html.Div(id="cs-from-ws"),
])


@callback(Output("bar-done", "children"), Input("start", "n_clicks"), prevent_initial_call=True)
async def progress(_n: int) -> str:
    """A long callback that streams its progress with set_props."""
    for percent in range(0, 101, 10):
        set_props("bar", {"value": percent})
        set_props("bar-text", {"children": f"{percent}%"})
        await asyncio.sleep(0.03)
    return "done"


@callback(Output("read-out", "children"), Input("read", "n_clicks"), prevent_initial_call=True)
async def read_field(_n: int) -> str:
    """get_prop mid-callback: the page's current value, not one sent with the request."""
    value = await ctx.websocket.get_prop("field", "value")
    return f"read: {value}"


@callback(persistent=True)
async def ticker() -> None:
    """A persistent callback: streams for the life of the page's connection."""
    n = 0
    while not ctx.websocket.is_shutdown:
        n += 1
        set_props("ticker", {"children": str(n)})
        await asyncio.sleep(0.1)


@callback(Output("emit-done", "children"), Input("emit", "n_clicks"),
          State("event-count", "value"), prevent_initial_call=True)
async def emit_many(_n: int, count: int) -> str:
    """Events in a tight loop: every one must reach the page, in order."""
    for i in range(int(count)):
        await ctx.websocket.emit("tick", i)
    return f"emitted {count}"


@callback(Output("ws-store", "data"), Input("ws-to-store", "n_clicks"),
          prevent_initial_call=True)
async def to_store(n: int) -> dict[str, int]:
    return {"clicks": n, "squared": n * n}


# A clientside callback subscribes to the event channel once, when the page starts.
clientside_callback(
    """
    function(id) {
        window.__ticks = window.__ticks || [];
        window.quartdash.on("tick", function(i) {
            window.__ticks.push(i);
            dash_clientside.set_props("events-seen", {children: "seen " + window.__ticks.length});
        });
        return dash_clientside.no_update;
    }
    """,
    Output("events-seen", "children"),
    Input("events-seen", "id"),
)

# An inline function.
clientside_callback(
    "function(value) { return (value || '').toUpperCase(); }",
    Output("cs-upper", "children"),
    Input("cs-in", "value"),
)

# A function from assets/clientside.js.
clientside_callback(
    ClientsideFunction(namespace="checks", function_name="double"),
    Output("cs-double", "children"),
    Input("cs-n", "value"),
)

# A callback returning a promise.
clientside_callback(
    """
    async function(value) {
        await new Promise(function(resolve) { setTimeout(resolve, 50); });
        return "resolved " + value;
    }
    """,
    Output("cs-promise", "children"),
    Input("cs-in", "value"),
)

# triggered_id in dash_clientside.callback_context.
clientside_callback(
    """
    function(left, right) {
        return "clicked " + dash_clientside.callback_context.triggered_id;
    }
    """,
    Output("cs-which", "children"),
    Input("cs-left", "n_clicks"),
    Input("cs-right", "n_clicks"),
    prevent_initial_call=True,
)

# no_update.
clientside_callback(
    """
    function(n) {
        if (!n || n % 2) { return dash_clientside.no_update; }
        return "even " + n;
    }
    """,
    Output("cs-even-out", "children"),
    Input("cs-even", "n_clicks"),
)

# A clientside callback fed by a WebSocket callback's output.
clientside_callback(
    "function(data) { return data ? data.clicks + '^2 = ' + data.squared : ''; }",
    Output("cs-from-ws", "children"),
    Input("ws-store", "data"),
)

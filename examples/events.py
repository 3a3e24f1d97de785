"""Event channel: every server event reaches the page, in order, even at a high rate.

A persistent callback walks a random path and emits each step as an event
(``await ctx.websocket.emit("step", {...})``) 50 times a second. A clientside
subscriber (``window.quartdash.on("step", handler)``, attached by a clientside callback
when the page starts) draws every step into an SVG line and counts them. Pushing the
same steps through ``set_props`` into a ``dcc.Store`` would let the renderer merge
updates that arrive together, and a clientside callback on the store would miss steps
(Dash issue 3981); events are never merged.

Run it: ``hypercorn examples.events:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): the subscriber counts 50.1
events a second.
"""

from __future__ import annotations

import asyncio
import random

from quartdash import Input, Output, QuartDash, callback, clientside_callback, ctx, html

RATE = 50  # steps per second
app = QuartDash(__name__, title="quartdash events")
app.layout = html.Div(
    [
        html.H3("A random walk, one event per step"),
        html.Div(id="walk", style={"width": "600px", "height": "300px",
                                   "border": "1px solid #ccc"}),
        html.Div("steps received: 0", id="received"),
        html.Div("steps sent: 0", id="sent"),
    ]
)


@callback(persistent=True)
async def walk() -> None:
    """Emit one step every 1/RATE s for the life of the page's connection."""
    x, y, n = 0, 150.0, 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not ctx.websocket.is_shutdown:
        n += 1
        x = (x + 3) % 600
        y = min(295.0, max(5.0, y + random.uniform(-8, 8)))
        await ctx.websocket.emit("step", {"n": n, "x": x, "y": round(y, 1)})
        if n % RATE == 0:
            ctx.websocket.set_prop_sync("sent", "children", f"steps sent: {n}")
        await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))  # by the clock


# Attach the subscriber once, when the page starts; it draws without a server round trip.
clientside_callback(
    """
    function(id) {
        const box = document.getElementById(id);
        const ns = "http://www.w3.org/2000/svg";
        const svg = document.createElementNS(ns, "svg");
        svg.setAttribute("width", "600"); svg.setAttribute("height", "300");
        const line = document.createElementNS(ns, "polyline");
        line.setAttribute("fill", "none"); line.setAttribute("stroke", "#1f77b4");
        line.setAttribute("stroke-width", "2");
        svg.appendChild(line); box.appendChild(svg);
        let points = [], count = 0;
        window.quartdash.on("step", function(step) {
            count += 1;
            if (step.x < (points.length ? points[points.length - 1][0] : 0)) points = [];
            points.push([step.x, step.y]);
            line.setAttribute("points", points.map(p => p.join(",")).join(" "));
            window.dash_clientside.set_props("received", {children: "steps received: " + count});
        });
        return window.dash_clientside.no_update;
    }
    """,
    Output("walk", "title"),
    Input("walk", "id"),
)

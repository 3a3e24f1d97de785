"""Particle sandbox: click to spawn particles, set the gravity, watch them bounce.

The physics runs on the server in a persistent callback, 30 frames a second for the
life of the page's connection. Each frame it reads the controls from the page with
``get_prop`` (gravity, the clicks not yet handled, the clear button), moves every
particle and pushes the new positions as a ``Patch`` of the figure's ``x`` and ``y``.
A clientside listener turns a click on the plot into plot coordinates and appends it
to a ``dcc.Store`` with ``dash_clientside.set_props``; the server spawns a burst there.

A tab the browser freezes (hidden for a while, or paused in a debugger) stops
answering ``get_prop``: after ``ANSWER_SECONDS`` the loop logs one line and the
physics waits until the tab answers again, then goes on where it was.

Run it: ``hypercorn examples.particles:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): the page redraws 29.9
times a second.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import numpy as np
import plotly.graph_objects as go

from quartdash import (
    Input,
    Output,
    Patch,
    QuartDash,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    set_props,
)

FPS = 30
BURST = 12  # particles per click
LIMIT = 600  # the oldest go past this many
BOX = 20.0  # metres
BOUNCE = 0.8  # speed kept at a wall
#: How long a step waits for the page to answer ``get_prop``: far below Dash's default
#: of 30 s, well above what a busy page takes. A page silent for longer is frozen,
#: paused or gone; the loop waits for it without ending.
ANSWER_SECONDS = 5.0


def empty_box() -> go.Figure:
    figure = go.Figure(go.Scatter(x=[], y=[], mode="markers",
                                  marker={"size": 7, "color": "#1f77b4", "opacity": 0.8}))
    figure.update_layout(width=600, height=450, margin={"l": 20, "r": 20, "t": 20, "b": 20},
                         xaxis={"range": [0, BOX], "showgrid": False, "zeroline": False},
                         yaxis={"range": [0, BOX], "showgrid": False, "zeroline": False},
                         dragmode=False, hovermode=False, plot_bgcolor="#f8f8f8")
    return figure


class Particles:
    """Positions and velocities, one row per particle."""

    def __init__(self) -> None:
        self.position = np.empty((0, 2))
        self.velocity = np.empty((0, 2))

    def spawn(self, x: float, y: float) -> None:
        angles = np.random.uniform(0, 2 * np.pi, BURST)
        speeds = np.random.uniform(3, 12, BURST)  # metres a second
        velocity = np.column_stack([np.cos(angles), np.sin(angles)]) * speeds[:, None]
        self.position = np.vstack([self.position, np.tile([x, y], (BURST, 1))])[-LIMIT:]
        self.velocity = np.vstack([self.velocity, velocity])[-LIMIT:]

    def clear(self) -> None:
        self.position, self.velocity = np.empty((0, 2)), np.empty((0, 2))

    def step(self, gravity: float, dt: float) -> None:
        self.velocity[:, 1] -= gravity * dt
        self.position += self.velocity * dt
        for axis in (0, 1):  # bounce off the walls, losing some speed
            low, high = self.position[:, axis] < 0, self.position[:, axis] > BOX
            self.position[low, axis] *= -1
            self.position[high, axis] = 2 * BOX - self.position[high, axis]
            self.velocity[low | high, axis] *= -BOUNCE
        np.clip(self.position, 0, BOX, out=self.position)


app = QuartDash(__name__, title="quartdash particles")
log = app.server.logger  # Quart's app logger: hypercorn prints its lines
app.layout = html.Div(
    [
        html.H3("Click in the box to spawn particles"),
        html.Div([html.Span("gravity (m/s²) "),
                  html.Div(dcc.Slider(-20, 40, 1, value=9.8, id="gravity",
                                      marks={g: str(g) for g in range(-20, 41, 10)}),
                           style={"width": "300px", "display": "inline-block"}),
                  html.Button("Clear", id="clear", n_clicks=0)]),
        dcc.Graph(id="box", figure=empty_box(),
                  config={"displayModeBar": False, "doubleClick": False}),
        html.Div("0 particles", id="count"),
        dcc.Store(id="clicks", data=[]),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)

# One click listener per page: plot coordinates of each click, kept in the store. It
# listens on the document, not on the graph's element: the renderer may replace that
# element after the first render (measured in Chromium 156), and a listener attached to
# the first one would never hear a click again.
clientside_callback(
    """
    function(id) {
        if (window.particlesListening) return dash_clientside.no_update;
        window.particlesListening = true;
        let n = 0, clicks = [];
        document.addEventListener("click", function(event) {
            const graph = document.getElementById(id);
            if (!graph || !graph.contains(event.target)) return;
            const plot = graph.querySelector(".js-plotly-plot");
            const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
            const box = plot.getBoundingClientRect();
            n += 1;
            const click = {n: n, x: xa.p2d(event.clientX - box.left - xa._offset),
                           y: ya.p2d(event.clientY - box.top - ya._offset)};
            clicks = clicks.concat([click]).slice(-20);  // the server reads 30 times a second
            dash_clientside.set_props("clicks", {data: clicks});
        });
        return dash_clientside.no_update;
    }
    """,
    Output("box", "className"),
    Input("box", "id"),
)


@callback(persistent=True)
async def simulate() -> None:
    """FPS frames a second: read the controls, step the physics, send the positions."""
    socket = ctx.websocket
    particles = Particles()
    particles.spawn(BOX / 2, BOX * 0.8)  # something to watch before the first click
    handled, cleared = 0, None
    loop = asyncio.get_running_loop()
    due, frame = loop.time(), 0  # when this frame was due: frames keep to the clock
    silent_since: float | None = None  # the page stopped answering then; None: it answers
    while not socket.is_shutdown:
        try:
            gravity, clicks, clear = await asyncio.gather(
                socket.get_prop("gravity", "value", timeout=ANSWER_SECONDS),
                socket.get_prop("clicks", "data", timeout=ANSWER_SECONDS),
                socket.get_prop("clear", "n_clicks", timeout=ANSWER_SECONDS))
        except TimeoutError:
            if silent_since is None:  # one line per silence, not one per frame
                silent_since = loop.time()
                log.warning("particles: the page did not answer get_prop in %g s (a "
                            "frozen tab?); the physics waits for it", ANSWER_SECONDS)
            due = loop.time()
            continue
        if silent_since is not None:
            log.info("particles: the page answers again after %.1f s",
                     loop.time() - silent_since)
            silent_since = None
        frame += 1
        if cleared is not None and clear != cleared:
            particles.clear()
        cleared = clear
        click: dict[str, Any]
        for click in clicks or []:
            if click["n"] > handled:
                particles.spawn(click["x"], click["y"])
                handled = click["n"]
        if frame % (FPS * 3) == 0:
            particles.spawn(random.uniform(0.1, 0.9) * BOX, BOX * 0.9)  # a burst every 3 s
        particles.step(gravity or 0.0, 1 / FPS)
        positions = Patch()
        positions["data"][0]["x"] = np.round(particles.position[:, 0], 2)
        positions["data"][0]["y"] = np.round(particles.position[:, 1], 2)
        set_props("box", {"figure": positions})
        if frame % 10 == 0:
            set_props("count", {"children": f"{len(particles.position)} particles"})
        # A frame late by more than a period does not make the next ones hurry.
        due = max(due + 1 / FPS, loop.time() - 1 / FPS)
        await asyncio.sleep(max(0.0, due - loop.time()))

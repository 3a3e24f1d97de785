"""Reactor control room: one persistent callback runs three loops at three rates.

The callback starts when the page connects and runs ``asyncio.gather`` over three
loops sharing one simulated core:

- the core-temperature heatmap (20x20 cells) at 20 Hz, sent as a ``Patch`` of the
  figure's ``z`` and title, so the layout is not resent;
- the metrics (mean and hottest cell, thermal power, coolant pressure) at 2 Hz; this
  loop also reads the control-rod setting from the page with ``get_prop``, so a change
  takes effect without any callback restarting;
- the operator's log at 0.5 Hz.

A tab the browser freezes (hidden for a while, or paused in a debugger) stops
answering ``get_prop``. The metrics loop waits ``ANSWER_SECONDS`` for the rods, then
logs one line, keeps the rods where they were and asks again next time; the core runs
on, but nothing is sent to a page that is not reading. When the tab answers again,
every loop picks up where it is.

Run it: ``hypercorn examples.reactor:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): 20.1 heatmap frames a
second reach the page, and it redraws the heatmap 20.1 times a second.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np
import plotly.graph_objects as go

from quartdash import Patch, QuartDash, callback, ctx, dcc, html, set_props

SIZE = 20
HEATMAP_HZ, METRICS_HZ, LOG_HZ = 20.0, 2.0, 0.5
COOLANT = 280.0  # °C, the inlet temperature the core relaxes to
#: How long the metrics loop waits for the page to answer ``get_prop``: a few of its
#: periods, far below Dash's default of 30 s. A page silent for longer is frozen,
#: paused or gone; the loop carries on without it rather than hold every frame.
ANSWER_SECONDS = 5.0


class Core:
    """A temperature field heated under the rods' control, mixed by diffusion and
    cooled towards the coolant's temperature."""

    def __init__(self) -> None:
        self.rods = 50  # percent inserted
        self.temperature = np.full((SIZE, SIZE), COOLANT + 20)
        y, x = np.mgrid[0:SIZE, 0:SIZE] - (SIZE - 1) / 2
        self._source = np.exp(-(x**2 + y**2) / 40)
        self._rng = np.random.default_rng()

    def step(self, dt: float) -> None:
        t = self.temperature
        neighbours = (np.roll(t, 1, 0) + np.roll(t, -1, 0) + np.roll(t, 1, 1)
                      + np.roll(t, -1, 1) - 4 * t)
        heat = (1 - self.rods / 100) * 120 * self._source * self._rng.uniform(0.8, 1.2, t.shape)
        self.temperature = t + dt * (heat + 2 * neighbours - 0.8 * (t - COOLANT))

    @property
    def power(self) -> float:
        """Thermal power in MW, from the heat carried away by the coolant."""
        return float(np.sum(self.temperature - COOLANT) * 0.25)


def heatmap() -> go.Figure:
    figure = go.Figure(go.Heatmap(z=Core().temperature, zmin=COOLANT, zmax=COOLANT + 120,
                                  colorscale="Inferno", colorbar={"title": "°C"}))
    figure.update_layout(title="core temperature, frame 0", width=480, height=440,
                         margin={"l": 30, "r": 30, "t": 40, "b": 30},
                         xaxis={"visible": False}, yaxis={"visible": False})
    return figure


def metric(label: str, metric_id: str) -> html.Tr:
    return html.Tr([html.Td(label), html.Td("-", id=metric_id, style={"fontWeight": "bold"})])


app = QuartDash(__name__, title="quartdash reactor")
log = app.server.logger  # Quart's app logger: hypercorn prints its lines
app.layout = html.Div(
    [
        html.H3("Reactor control room"),
        html.Div(
            [
                dcc.Graph(id="core", figure=heatmap(), config={"displayModeBar": False}),
                html.Div(
                    [
                        html.H4("Control rods inserted (%)"),
                        dcc.RadioItems([0, 25, 50, 75, 100], 50, id="rods", inline=True),
                        html.H4("Metrics (2 Hz)"),
                        html.Table([
                            metric("rods read by the server", "rods-read"),
                            metric("mean core temperature", "temp-mean"),
                            metric("hottest cell", "temp-max"),
                            metric("thermal power", "power"),
                            metric("coolant pressure", "pressure"),
                        ]),
                    ],
                    style={"marginLeft": "20px"},
                ),
            ],
            style={"display": "flex"},
        ),
        html.H4("Operator log (0.5 Hz)"),
        html.Pre(id="log", style={"height": "170px", "background": "#f4f4f4",
                                  "padding": "6px"}),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


async def every(hz: float, step: Callable[[int], Awaitable[None]]) -> None:
    """Run ``step(n)`` ``hz`` times a second by the clock until the socket closes. A
    step late by more than a period (a ``get_prop`` that waited out its timeout) does
    not make the next ones hurry to catch up."""
    loop = asyncio.get_running_loop()
    due, n = loop.time(), 0
    while not ctx.websocket.is_shutdown:
        n += 1
        await step(n)
        due = max(due + 1 / hz, loop.time() - 1 / hz)
        await asyncio.sleep(max(0.0, due - loop.time()))


@callback(persistent=True)
async def control_room() -> None:
    """Three loops, one core, one connection."""
    socket = ctx.websocket
    core = Core()
    lines: deque[str] = deque(maxlen=10)
    loop = asyncio.get_running_loop()
    silent_since: float | None = None  # the page stopped answering then; None: it answers

    async def heat(frame: int) -> None:
        core.step(1 / HEATMAP_HZ)
        if silent_since is not None:
            return  # the core runs on; the page gets the next frame once it reads again
        figure = Patch()
        figure["data"][0]["z"] = np.round(core.temperature, 1)
        figure["layout"]["title"]["text"] = f"core temperature, frame {frame}"
        set_props("core", {"figure": figure})

    async def metrics(_: int) -> None:
        nonlocal silent_since
        try:
            rods = await socket.get_prop("rods", "value", timeout=ANSWER_SECONDS)
        except TimeoutError:
            if silent_since is None:  # one line per silence, not one per period
                silent_since = loop.time()
                log.warning("reactor: the page did not answer get_prop in %g s (a frozen "
                            "tab?); the rods stay at %d %% until it does",
                            ANSWER_SECONDS, core.rods)
            return
        if silent_since is not None:
            log.info("reactor: the page answers again after %.1f s",
                     loop.time() - silent_since)
            silent_since = None
        core.rods = int(rods)
        t = core.temperature
        set_props("rods-read", {"children": f"{core.rods} %"})
        set_props("temp-mean", {"children": f"{t.mean():.1f} °C"})
        set_props("temp-max", {"children": f"{t.max():.1f} °C"})
        set_props("power", {"children": f"{core.power:.0f} MW"})
        set_props("pressure", {"children": f"{15.5 + (t.mean() - COOLANT) / 40:.2f} MPa"})

    async def operator_log(_: int) -> None:
        hottest = core.temperature.max()
        state = "HIGH: insert rods" if hottest > COOLANT + 90 else "nominal"
        lines.append(f"{time.strftime('%H:%M:%S')}  rods {core.rods:3d} %  "
                     f"hottest {hottest:6.1f} °C  {state}")
        if silent_since is None:  # the lines written meanwhile arrive with the next
            set_props("log", {"children": "\n".join(lines)})

    await asyncio.gather(every(HEATMAP_HZ, heat), every(METRICS_HZ, metrics),
                         every(LOG_HZ, operator_log))

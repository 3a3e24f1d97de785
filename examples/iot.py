"""IoT dashboard: four simulated sensors streamed at 10 Hz onto two dual-axis charts.

A persistent callback samples the sensors ten times a second for the life of the
page's connection. Each sample is appended to the charts with a ``Patch`` of the
figure (a few bytes per sample instead of the whole figure), keeping the last 60 s;
the numeric readouts update twice a second. A ``Patch`` is a change to apply, not a
state, so quartdash never merges two of them even when the page falls behind.
(dcc.Graph's ``extendData`` is meant for this too, but at this rate it repeats or drops
samples while the page is busy: it clears its queue of pending extensions after
drawing them, asynchronously, and so also clears or redraws ones that arrived
meanwhile.)

Run it: ``hypercorn examples.iot:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): 10.0 samples a second per
chart reach the page, and the charts redraw 10.0 times a second.
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import datetime

import plotly.graph_objects as go

from quartdash import Patch, QuartDash, callback, ctx, dcc, html, set_props

RATE = 10  # samples per second
WINDOW = 60 * RATE  # samples kept on a chart
Sensor = tuple[str, str, str, tuple[float, float]]  # name, unit, colour, axis range
#: (chart id, title, left sensor, right sensor)
CHARTS: list[tuple[str, str, Sensor, Sensor]] = [
    ("climate", "Climate", ("temperature", "°C", "#d62728", (16, 26)),
     ("humidity", "%", "#1f77b4", (30, 60))),
    ("mechanics", "Pump", ("pressure", "kPa", "#2ca02c", (250, 350)),
     ("vibration", "mm/s", "#9467bd", (0, 5))),
]


def chart(title: str, left: Sensor, right: Sensor) -> go.Figure:
    """Two empty traces, one per axis; samples are appended as they arrive. The y
    ranges and margins are fixed: an automatic margin or range recomputed on every
    sample costs the browser more than the sample itself."""
    figure = go.Figure()
    for (name, unit, colour, _), axis in ((left, "y"), (right, "y2")):
        figure.add_trace(go.Scatter(x=[], y=[], name=f"{name} ({unit})", yaxis=axis,
                                    mode="lines", line={"color": colour}))
    axes = [{"title": f"{name} ({unit})", "color": colour, "range": list(bounds),
             "automargin": False} for name, unit, colour, bounds in (left, right)]
    figure.update_layout(
        title=title, height=300, margin={"l": 70, "r": 70, "t": 40, "b": 40},
        xaxis={"automargin": False}, yaxis=axes[0],
        yaxis2={**axes[1], "overlaying": "y", "side": "right"},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.6)"},
        uirevision="keep",
    )
    return figure


class Sensors:
    """Four plausible signals: slow drifts, a pump cycle, noise."""

    def __init__(self) -> None:
        self.n = 0

    def read(self) -> dict[str, float]:
        self.n += 1
        t = self.n / RATE
        return {
            "temperature": round(21 + 2 * math.sin(t / 20) + random.gauss(0, 0.05), 2),
            "humidity": round(45 + 5 * math.cos(t / 30) + random.gauss(0, 0.2), 2),
            "pressure": round(300 + 25 * math.sin(t * 1.3) + random.gauss(0, 2), 1),
            "vibration": round(abs(2 + math.sin(t * 1.3) + random.gauss(0, 0.3)), 2),
        }


app = QuartDash(__name__, title="quartdash IoT")
app.layout = html.Div(
    [
        html.H3("Four sensors, ten samples a second"),
        html.Div([html.Div([html.Div(name, style={"fontSize": "12px", "color": "#666"}),
                            html.Div("-", id=f"{name}-now", style={"fontSize": "22px"})],
                           style={"display": "inline-block", "width": "150px"})
                  for _, _, left, right in CHARTS for name in (left[0], right[0])]),
        *[dcc.Graph(id=chart_id, figure=chart(title, left, right), style={"width": "800px"},
                    config={"displayModeBar": False})
          for chart_id, title, left, right in CHARTS],
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@callback(persistent=True)
async def sample() -> None:
    """Read the sensors RATE times a second and append each sample to its chart."""
    socket = ctx.websocket
    sensors = Sensors()
    loop = asyncio.get_running_loop()
    start, n = loop.time(), 0
    while not socket.is_shutdown:
        n += 1
        now = datetime.now().isoformat(timespec="milliseconds")
        values = sensors.read()
        for chart_id, _, left, right in CHARTS:
            update = Patch()
            for trace, sensor in enumerate((left, right)):
                update["data"][trace]["x"].append(now)
                update["data"][trace]["y"].append(values[sensor[0]])
                if n > WINDOW:
                    del update["data"][trace]["x"][0]
                    del update["data"][trace]["y"][0]
            set_props(chart_id, {"figure": update})
        if n % (RATE // 2) == 0:
            for name, value in values.items():
                set_props(f"{name}-now", {"children": f"{value:g}"})
        await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))

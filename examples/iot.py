"""IoT dashboard: four simulated sensors sampled at 10 Hz by one producer and pushed
onto every viewer's two dual-axis charts.

One loop samples the sensors ten times a second for all viewers (not one per page)
and pushes each sample to the topic ``sensors`` with ``app.connections.push(topic=
"sensors", set_props=...)``: encoded once, queued to every subscribed socket. A page
subscribes at each connection, in a persistent callback that returns at once
(``await ctx.websocket.subscribe("sensors")``); no callback runs for it afterwards.

Each sample is appended to the charts with a ``Patch`` of the figure (a few bytes per
sample instead of the whole figure). A ``Patch`` is a change to apply, not a state, so
quartdash never merges two of them even when a page falls behind; and since one push
goes to pages that joined at different times, it cannot say "drop your oldest point"
(their charts hold different numbers of points). So the window is kept another way:
every minute the producer pushes the last minute whole, which every page replaces its
data with, and in between it appends. A chart shows one to two minutes, and a page
that joined mid-minute has the full window at the next minute. The numeric readouts
are plain values, pushed twice a second; a page that falls behind gets the latest.
(dcc.Graph's ``extendData`` is meant for appending too, but at this rate it repeats or
drops samples while the page is busy: it clears its queue of pending extensions after
drawing them, asynchronously, and so also clears or redraws ones that arrived
meanwhile.)

One loop per process, or one per cluster (``examples/_producer.py``): with the
in-process backplane each process samples for its own viewers; with the Redis
backplane (``QUARTDASH_BACKPLANE=redis://...``) a push reaches every worker's viewers,
so only the worker holding a Redis lock samples, and every viewer sees each sample
once. If that worker dies another takes over within 3 s.

Run it: ``hypercorn examples.iot:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): 10.0 samples a second per
chart reach the page, and the charts redraw 10.0 times a second.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from datetime import datetime

import plotly.graph_objects as go

from examples._producer import one_producer
from quartdash import Patch, QuartDash, callback, ctx, dcc, html

RATE = 10  # samples per second
WINDOW = 60 * RATE  # samples every page has after each minute: one minute
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


async def sample() -> None:
    """The one producer: read the sensors RATE times a second and push each sample."""
    sensors = Sensors()
    kept = {name: deque[tuple[str, float]](maxlen=WINDOW)
            for _, _, left, right in CHARTS for name in (left[0], right[0])}
    loop = asyncio.get_running_loop()
    start, n = loop.time(), 0
    while True:
        n += 1
        now = datetime.now().isoformat(timespec="milliseconds")
        values = sensors.read()
        props: dict[str, dict[str, object]] = {}
        for chart_id, _, left, right in CHARTS:
            update = Patch()
            for trace, (name, *_) in enumerate((left, right)):
                kept[name].append((now, values[name]))
                if n % WINDOW == 0:  # every page, whenever it joined, gets the same minute
                    update["data"][trace]["x"] = [x for x, _ in kept[name]]
                    update["data"][trace]["y"] = [y for _, y in kept[name]]
                else:
                    update["data"][trace]["x"].append(now)
                    update["data"][trace]["y"].append(values[name])
            props[chart_id] = {"figure": update}
        if n % (RATE // 2) == 0:
            props |= {f"{name}-now": {"children": f"{value:g}"} for name, value in values.items()}
        await app.connections.push(topic="sensors", set_props=props)
        await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))


one_producer(app, "iot", sample)


@callback(persistent=True)
async def join() -> None:
    """At each connection (a reconnected page starts with no subscriptions; a resumed
    one keeps them): this tab receives the samples from now on."""
    await ctx.websocket.subscribe("sensors")

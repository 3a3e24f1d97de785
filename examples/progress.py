"""Progress bar: a long async callback reports its progress while it runs.

Clicking *Start* runs one callback for about 4 s. Each of its 40 steps pushes the bar's
value and a status line to the page with ``set_props`` at once, over the WebSocket;
the callback's return value is the final status. Stock Dash needs a background-callback
manager (Celery or diskcache) for this; here it is one ``async def``. While it runs,
Dash's ``running=`` keeps the button disabled, and every other connection keeps
answering (the callback awaits, it never blocks the loop).

Run it: ``hypercorn examples.progress:app``, then open http://127.0.0.1:8000/.
The bar moves once per step: 40 steps of 0.1 s.
"""

from __future__ import annotations

import asyncio
import time

from quartdash import Input, Output, QuartDash, callback, html, set_props

STEPS = 40
STEP_SECONDS = 0.1  # stands in for one chunk of real work

app = QuartDash(__name__, title="quartdash progress")
app.layout = html.Div(
    [
        html.H3("A long job that reports as it goes"),
        html.Button("Start", id="start"),
        html.Div(html.Progress(id="bar", value="0", max=str(STEPS), style={"width": "400px"})),
        html.Div("idle", id="status"),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@callback(
    Output("status", "children"),
    Input("start", "n_clicks"),
    running=[(Output("start", "disabled"), True, False)],
    prevent_initial_call=True,
)
async def run_job(n_clicks: int) -> str:
    """Do the job in steps; after each, show how far it got."""
    began = time.monotonic()
    for step in range(1, STEPS + 1):
        await asyncio.sleep(STEP_SECONDS)
        set_props("bar", {"value": str(step)})
        set_props("status", {"children": f"job {n_clicks}: step {step} of {STEPS}"})
    return f"job {n_clicks} done in {time.monotonic() - began:.1f} s"

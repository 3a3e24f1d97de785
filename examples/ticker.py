"""Live ticker: a persistent callback streams prices into an AG Grid every 0.5 s and
asks the page which symbol is selected, so a new choice changes the stream at once.

The callback starts when the page connects and runs for the life of its connection
(``@callback(persistent=True)``). Each tick it moves every simulated price, replaces
the grid's rows (``getRowId`` lets AG Grid update rows in place and flash the changed
cells), then reads the dropdown with ``await ctx.websocket.get_prop("symbol",
"value")`` and pushes that symbol's recent history to the chart. Choosing another
symbol (in the dropdown, or by clicking its row) needs no callback restart: the next
tick reads it. The market is simulated per connection.

A tab the browser freezes (hidden for a while, or paused in a debugger) stops
answering ``get_prop``: after ``ANSWER_SECONDS`` the tick logs one line and sends
nothing; the market moves on, and the page gets its state at the first tick it
answers again.

Run it: ``hypercorn examples.ticker:app``, then open http://127.0.0.1:8000/.
Measured in headless Chromium (tests/e2e/test_examples.py): 2.0 ticks a second reach
the page.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Any

import dash_ag_grid as dag
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

TICK_SECONDS = 0.5
#: How long a tick waits for the page to answer ``get_prop``: far below Dash's default
#: of 30 s, well above what a busy page takes. A page silent for longer is frozen,
#: paused or gone; the loop carries on without it.
ANSWER_SECONDS = 5.0
HISTORY = 120  # ticks kept per symbol: one minute
OPENING = {"ACME": 120.0, "GLOBEX": 64.5, "INITECH": 18.2, "UMBRELLA": 250.0,
           "HOOLI": 410.0, "SOYLENT": 33.3, "STARK": 980.0, "WAYNE": 150.0}

COLUMNS = [
    {"field": "symbol"},
    {"field": "price", "valueFormatter": {"function": "d3.format('.2f')(params.value)"},
     "enableCellChangeFlash": True},
    {"field": "change", "valueFormatter": {"function": "d3.format('+.2f')(params.value)"},
     "cellStyle": {"styleConditions": [{"condition": "params.value < 0",
                                        "style": {"color": "#c0392b"}}],
                   "defaultStyle": {"color": "#1e8449"}}},
    {"field": "change %", "valueFormatter": {"function": "d3.format('+.2%')(params.value)"}},
]


def rows(prices: dict[str, float]) -> list[dict[str, Any]]:
    """Grid rows: the price and its change since the opening."""
    return [{"symbol": s, "price": p, "change": p - OPENING[s],
             "change %": p / OPENING[s] - 1} for s, p in prices.items()]


def chart(symbol: str) -> go.Figure:
    """The selected symbol's recent prices."""
    figure = go.Figure(go.Scatter(x=[], y=[], mode="lines", line={"color": "#1f77b4"}))
    figure.update_layout(title=symbol, margin={"l": 50, "r": 20, "t": 40, "b": 30},
                         xaxis={"title": "ticks ago", "autorange": "reversed"}, height=300)
    return figure


app = QuartDash(__name__, title="quartdash ticker")
log = app.server.logger  # Quart's app logger: hypercorn prints its lines
app.layout = html.Div(
    [
        html.H3("Live prices, two ticks a second"),
        dcc.Dropdown(list(OPENING), "ACME", id="symbol", clearable=False,
                     style={"width": "200px"}),
        html.Div("tick 0", id="tick"),
        dag.AgGrid(id="quotes", rowData=rows(OPENING), columnDefs=COLUMNS,
                   getRowId="params.data.symbol", columnSize="sizeToFit",
                   style={"height": "420px", "width": "600px"}),
        dcc.Graph(id="detail", figure=chart("ACME"), style={"width": "600px"}),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


@callback(persistent=True)
async def stream_prices() -> None:
    """Tick every TICK_SECONDS for the life of the page's connection."""
    socket = ctx.websocket
    prices = dict(OPENING)
    history = {s: deque([p], maxlen=HISTORY) for s, p in prices.items()}
    loop = asyncio.get_running_loop()
    due, tick = loop.time(), 0
    silent_since: float | None = None  # the page stopped answering then; None: it answers
    while not socket.is_shutdown:
        tick += 1
        for symbol, price in prices.items():
            prices[symbol] = round(max(0.01, price * (1 + random.gauss(0, 0.004))), 2)
            history[symbol].append(prices[symbol])
        try:
            selected = await socket.get_prop("symbol", "value", timeout=ANSWER_SECONDS)
        except TimeoutError:
            if silent_since is None:  # one line per silence, not one per tick
                silent_since = loop.time()
                log.warning("ticker: the page did not answer get_prop in %g s (a frozen "
                            "tab?); prices go on, sent once it answers", ANSWER_SECONDS)
        else:
            if silent_since is not None:
                log.info("ticker: the page answers again after %.1f s",
                         loop.time() - silent_since)
                silent_since = None
            set_props("quotes", {"rowData": rows(prices)})
            set_props("tick", {"children": f"tick {tick}"})
            series = list(history[selected])
            detail = Patch()
            detail["data"][0]["x"] = list(range(len(series) - 1, -1, -1))
            detail["data"][0]["y"] = series
            detail["layout"]["title"]["text"] = f"{selected} {series[-1]:.2f}"
            set_props("detail", {"figure": detail})
        # Paced by the clock, so the rate holds however long a tick takes; a tick late
        # by more than a period (a get_prop that waited out its timeout) does not make
        # the next ones hurry to catch up.
        due = max(due + TICK_SECONDS, loop.time() - TICK_SECONDS)
        await asyncio.sleep(max(0.0, due - loop.time()))


# Clicking a row selects its symbol, in the browser.
clientside_callback(
    "function(cell) { return cell ? cell.rowId : dash_clientside.no_update; }",
    Output("symbol", "value"),
    Input("quotes", "cellClicked"),
    prevent_initial_call=True,
)

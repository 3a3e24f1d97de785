"""Live ticker: one producer moves the prices every 0.5 s and pushes them to every
viewer; each page follows the symbol it selected.

The producer is one loop for all viewers, not one per page: it moves every simulated
price, then pushes the grid's rows to the topic ``prices`` and each symbol's recent
history to the topic ``chart:<symbol>``, with ``app.connections.push(topic=...,
set_props=...)``. Each push is encoded once, whatever the number of viewers, and is
queued to each subscribed socket under its own limits (a socket that falls behind gets
the latest rows, not every one). ``getRowId`` lets AG Grid update the rows in place and
flash the changed cells.

A page subscribes from its WebSocket callbacks. ``join``, persistent, runs at each
connection (a reconnected page starts with no subscriptions; a resumed one keeps
them): ``await ctx.websocket.subscribe("prices")``, then the chart topic of the symbol
the page shows, read with ``get_prop``. Choosing another symbol (in the dropdown, or by
clicking its row) runs ``choose``, which leaves the old chart topic for the new one;
the chart fills at the next tick. No callback runs per viewer in between.

One loop per process, or one per cluster (``examples/_producer.py``): with the
in-process backplane (one worker, or workers that share nothing) each process runs its
own market for its own viewers. With the Redis backplane (``QUARTDASH_BACKPLANE=
redis://...``) a push reaches every worker's viewers, so only the worker holding a
Redis lock runs the market: every viewer on every worker sees the same prices, once.
If that worker dies another takes over within 3 s, with a new market. The page says
which worker's process produces (``tick 12 (worker 4242)``).

Run it: ``hypercorn examples.ticker:app``, then open http://127.0.0.1:8000/; for
several workers, ``QUARTDASH_BACKPLANE=redis://127.0.0.1:6379/0 hypercorn -w 2
examples.ticker:app``. Measured in headless Chromium (tests/e2e/test_examples.py): 2.0
ticks a second reach the page, and two viewers on two workers see the same prices.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import deque
from typing import Any

import dash_ag_grid as dag
import plotly.graph_objects as go

from examples._producer import one_producer
from quartdash import (
    CallbackSocket,
    Input,
    Output,
    Patch,
    PreventUpdate,
    QuartDash,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
)

TICK_SECONDS = 0.5
#: How long ``join`` waits for the page to say which symbol it shows before asking again.
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
    """The selected symbol's chart, empty until the next tick fills it."""
    figure = go.Figure(go.Scatter(x=[], y=[], mode="lines", line={"color": "#1f77b4"}))
    figure.update_layout(title=symbol, margin={"l": 50, "r": 20, "t": 40, "b": 30},
                         xaxis={"title": "ticks ago", "autorange": "reversed"}, height=300)
    return figure


def chart_topic(symbol: str) -> str:
    return f"chart:{symbol}"


app = QuartDash(__name__, title="quartdash ticker")
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


async def market() -> None:
    """The one producer: tick every TICK_SECONDS, pushing to whoever subscribed."""
    prices = dict(OPENING)
    history = {s: deque([p], maxlen=HISTORY) for s, p in prices.items()}
    loop = asyncio.get_running_loop()
    due, tick = loop.time(), 0
    while True:
        tick += 1
        for symbol, price in prices.items():
            prices[symbol] = round(max(0.01, price * (1 + random.gauss(0, 0.004))), 2)
            history[symbol].append(prices[symbol])
        await app.connections.push(topic="prices", set_props={
            "quotes": {"rowData": rows(prices)},
            "tick": {"children": f"tick {tick} (worker {os.getpid()})"}})
        for symbol, series in history.items():
            detail = Patch()
            detail["data"][0]["x"] = list(range(len(series) - 1, -1, -1))
            detail["data"][0]["y"] = list(series)
            detail["layout"]["title"]["text"] = f"{symbol} {series[-1]:.2f}"
            await app.connections.push(topic=chart_topic(symbol),
                                       set_props={"detail": {"figure": detail}})
        # Paced by the clock, so the rate holds however long a tick takes; a tick late
        # by more than a period does not make the next ones hurry to catch up.
        due = max(due + TICK_SECONDS, loop.time() - TICK_SECONDS)
        await asyncio.sleep(max(0.0, due - loop.time()))


one_producer(app, "ticker", market)


async def watch(socket: CallbackSocket, symbol: str) -> None:
    """This tab receives ``symbol``'s chart, and no other. The page sends the value:
    a symbol that is not ours is refused (a topic name of the page's choosing would
    let it read any topic)."""
    if symbol not in OPENING:
        raise PreventUpdate
    for other in OPENING.keys() - {symbol}:
        await socket.unsubscribe(chart_topic(other))
    await socket.subscribe(chart_topic(symbol))


@callback(persistent=True)
async def join() -> None:
    """At each connection (a reconnect is a new one, whose subscriptions start empty;
    a resume keeps them): this tab receives the prices and its symbol's chart."""
    socket = ctx.websocket
    await socket.subscribe("prices")
    while not socket.is_shutdown:
        try:
            symbol = await socket.get_prop("symbol", "value", timeout=ANSWER_SECONDS)
        except TimeoutError:
            continue  # a frozen tab: the prices queue for it meanwhile; ask again
        await watch(socket, symbol)
        return


@callback(Output("detail", "figure"), Input("symbol", "value"), prevent_initial_call=True)
async def choose(symbol: str) -> go.Figure:
    """Another symbol: its chart, filled at the next tick."""
    if ctx.websocket is None:  # over HTTP (a browser without SharedWorker): no topics
        raise PreventUpdate
    await watch(ctx.websocket, symbol)
    return chart(symbol)


# Clicking a row selects its symbol, in the browser.
clientside_callback(
    "function(cell) { return cell ? cell.rowId : dash_clientside.no_update; }",
    Output("symbol", "value"),
    Input("quotes", "cellClicked"),
    prevent_initial_call=True,
)

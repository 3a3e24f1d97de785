"""The fan-out benchmark's server (``python -m bench.fanout``): one page, fed two ways.

``hypercorn bench.fanout_app:app``. The page is a market feed, a ``dcc.Store`` ``feed``
whose ``data`` is ``{"seq", "sent", "rows"}``: 20 rows (symbol, price, change), about
1 KB encoded, numbered by ``seq``, stamped with the time it was due (``sent``, seconds
of ``time.time()``, the clock every process of this machine shares).

* push: a socket that sends the ``join`` callback request subscribes its tab to
  ``TOPIC``; one publisher elsewhere (``bench.fanout``'s publisher process, with
  ``quartdash.Publisher``) pushes each update once, to every subscriber.
* per viewer (today's way): a socket that starts the persistent callback ``per_viewer``
  gets its own loop, computing the same update with the same function (``market``) at
  ``RATE`` Hz and ``set_props`` it to that socket alone.
* ``POST /bench/push`` (``{"seq": n}``) pushes one update to ``TOPIC`` from a route of
  this process: the bench calls it on one server while the subscriber is on another,
  to time a push that crosses processes through the backplane.

``market`` is the one update both ways compute; ``seq`` is the same for every socket
(the number of the period since the epoch), so each update can be followed to its last
receiver however it was produced.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

from quart import request

from quartdash import Input, Output, QuartDash, callback, ctx, dcc, html, set_props

#: The topic every subscriber joins.
TOPIC = "prices"
#: Updates a second, per viewer (the publisher is told the same rate by the bench).
RATE = float(os.environ.get("FANOUT_RATE", "10"))
SYMBOLS = ["ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI", "SOYLENT", "STARK", "WAYNE",
           "WONKA", "TYRELL", "CYBERDYN", "OSCORP", "VANDELAY", "MASSIVE", "PIEDPIPR",
           "DUNDER", "KRUSTY", "NAKATOMI", "GRINGOTT", "MONARCH"]
OPENING = {s: 20.0 + 37.0 * i for i, s in enumerate(SYMBOLS)}


def market(seq: int, sent: float) -> dict[str, Any]:
    """Update ``seq`` of the simulated market, due at ``sent``: a deterministic walk,
    so the publisher and every per-viewer loop compute the same rows for one ``seq``
    (and spend the same work on it)."""
    rows = []
    for i, symbol in enumerate(SYMBOLS):
        opening = OPENING[symbol]
        price = round(opening * (1 + 0.05 * math.sin(seq * 0.01 * (i + 1) + i)), 2)
        rows.append({"symbol": symbol, "price": price, "change": round(price - opening, 2)})
    return {"seq": seq, "sent": sent, "rows": rows}


def update(seq: int, sent: float) -> dict[str, Any]:
    """The ``set_props`` argument of one update: ``{"feed": {"data": ...}}``."""
    return {"feed": {"data": market(seq, sent)}}


app = QuartDash(__name__, title="fan-out")
app.layout = html.Div([
    html.Button("join", id="join"), html.Div(id="status"),
    dcc.Store(id="feed"),
])


@callback(Output("status", "children"), Input("join", "n_clicks"), prevent_initial_call=True)
async def join(_clicks: int) -> str:
    """Subscribe this tab to ``TOPIC``: from now on it gets every push to it."""
    await ctx.websocket.subscribe(TOPIC)
    return "subscribed"


@callback(persistent=True)
async def per_viewer() -> None:
    """Today's way: this tab's own loop sends it update after update.

    The loop keeps its own phase (the moment its page connected, within the period),
    as one loop per viewer does: the loops of many viewers are spread over the period,
    not all woken at once. Update ``seq`` is due at ``seq / RATE`` plus that phase; a
    loop more than a period late skips to the current one (the updates skipped are
    never delivered, and the bench counts them missing)."""
    socket = ctx.websocket
    period = 1.0 / RATE
    phase = time.time() % period
    seq = math.floor(time.time() / period) + 1
    while not socket.is_shutdown:
        due = seq * period + phase
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -period:
            seq = math.floor((time.time() - phase) / period)
            due = seq * period + phase
        for component, props in update(seq, due).items():
            set_props(component, props)
        seq += 1


@app.server.route("/bench/push", methods=["POST"])
async def push() -> dict[str, Any]:
    """Push update ``seq`` (from the JSON body) to ``TOPIC`` from this process, stamped
    now; answers how many sockets it was queued for, over every worker."""
    body = await request.get_json(force=True)
    seq = int(body["seq"])
    queued = await app.connections.push(topic=TOPIC, set_props=update(seq, time.time()))
    return {"queued": queued}

"""An app for the metrics tests (``hypercorn tests.apps.metrics_app:app``), with
``QUARTDASH_METRICS`` and ``QUARTDASH_ADMIN_TOKEN`` set by the test.

Login as in ``examples.auth_admin`` (any user name, password ignored; the cookie is
``QUART_AUTH``), so ``tests/authclient.py`` drives it. Callbacks over the socket:
``echo`` (``in.value`` to ``out.children``), ``fail`` (raises), ``skip`` (raises
``PreventUpdate``), ``burst`` (n set_props of ``bulk``, 10 KB each, as fast as the
socket takes them, then ``burst-done``); over HTTP only: ``plain``. ``POST /push`` pushes
an event to every socket of the cluster and answers ``{"queued": n}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from quart import jsonify, redirect, request
from quart_auth import AuthUser, QuartAuth, login_user

from quartdash import Input, Output, PreventUpdate, QuartDash, callback, html, set_props

#: What each ``bulk`` update carries besides its number: a figure-sized update, so that
#: 3,000 of them (30 MB) outgrow any socket buffer and the page falls behind.
PAD = "x" * 10_000

app = QuartDash(__name__, title="metrics", auth=QuartAuth(), login_url="/login")
server = app.server
app.layout = html.Div([html.Div(id=name) for name in (
    "in", "out", "a", "failed", "b", "skipped", "burst", "bulk", "burst-done", "p", "plain")])


@server.post("/login")
async def login() -> Any:
    form = await request.form
    login_user(AuthUser(form["username"]))
    return redirect("/", 303)


@server.post("/push")
async def push() -> Any:
    return jsonify({"queued": await app.connections.push(everyone=True, event=("ping", 1))})


@callback(Output("out", "children"), Input("in", "value"), prevent_initial_call=True)
async def echo(value: Any) -> Any:
    return value


@callback(Output("failed", "children"), Input("a", "n_clicks"), prevent_initial_call=True)
async def fail(_n: int) -> str:
    raise RuntimeError("failing on purpose")


@callback(Output("skipped", "children"), Input("b", "n_clicks"), prevent_initial_call=True)
async def skip(_n: int) -> str:
    raise PreventUpdate


@callback(Output("burst-done", "children"), Input("burst", "n_clicks"),
          prevent_initial_call=True)
async def burst(n: int) -> str:
    for i in range(1, n + 1):
        set_props("bulk", {"children": i, "title": PAD})
        if i % 50 == 0:
            await asyncio.sleep(0)  # let the sender run, as a live stream does
    return f"done {n}"


@callback(Output("plain", "children"), Input("p", "n_clicks"), prevent_initial_call=True,
          websocket=False)
def plain(n: int) -> str:
    return f"http {n}"

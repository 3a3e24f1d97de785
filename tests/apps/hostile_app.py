"""The app the hostile-client tests attack (``hypercorn tests.apps.hostile_app:app``).

With ``HOSTILE_AUTH=1`` it requires a quart-auth login (``POST /login`` with form
``username``; no password: this is a test app, never an example). Callbacks:

- ``big`` (n_clicks) answers about ``BIG_BYTES`` (100 KB) of text to ``big-out``;
- ``slow`` (n_clicks) is a *sync* callback that sleeps 1 s, answering to ``slow-out``;
- ``echo`` returns ``in.value`` to ``out`` (async);
- ``boom`` raises an exception whose message holds a made-up database password;
- ``ticker`` is a persistent callback counting into ``tick``.
"""

from __future__ import annotations

import asyncio
import os
import time

from quart import request
from quart_auth import AuthUser, QuartAuth, login_user, logout_user

from quartdash import Input, Output, QuartDash, callback, ctx, html, set_props

BIG_BYTES = int(os.environ.get("BIG_BYTES", str(100_000)))
SECRET_TEXT = "postgresql://app:hunter2-db-password@db.internal/prod"

auth = QuartAuth(cookie_secure=False) if os.environ.get("HOSTILE_AUTH") == "1" else None
app = QuartDash(__name__, title="hostile", auth=auth)
app.server.secret_key = "k" * 64
app.layout = html.Div([
    html.Button(id="big"), html.Div(id="big-out"),
    html.Button(id="slow"), html.Div(id="slow-out"),
    html.Div(id="in"), html.Div(id="out"),
    html.Button(id="boom"), html.Div(id="boom-out"),
    html.Div(id="tick"),
])


@app.server.post("/login")
async def login() -> str:
    login_user(AuthUser((await request.form)["username"]))
    return "ok"


@app.server.post("/logout")
async def logout() -> str:
    logout_user()
    return "ok"


@callback(Output("big-out", "children"), Input("big", "n_clicks"), prevent_initial_call=True)
async def big(n: int) -> str:
    return str(n) * (BIG_BYTES // max(1, len(str(n))))


@callback(Output("slow-out", "children"), Input("slow", "n_clicks"), prevent_initial_call=True)
def slow(n: int) -> str:
    time.sleep(1)
    return f"slow {n}"


@callback(Output("out", "children"), Input("in", "children"))
async def echo(value: str | None) -> str | None:
    return value


@callback(Output("boom-out", "children"), Input("boom", "n_clicks"), prevent_initial_call=True)
async def boom(n: int) -> str:
    raise RuntimeError(f"cannot connect to {SECRET_TEXT}")


@callback(persistent=True)
async def ticker() -> None:
    i = 0
    while not ctx.websocket.is_shutdown:
        i += 1
        set_props("tick", {"children": i})
        await asyncio.sleep(0.5)

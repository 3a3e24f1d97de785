"""A WebSocket callback that sets cookies, behind a login, for handovers across
servers sharing a backplane (``tests/transport/test_handover_cluster.py``). Served by hypercorn:
``QUARTDASH_SECRET_KEY=... QUARTDASH_BACKPLANE=redis://... hypercorn tests.apps.handover_app:app``.
``POST /login`` (form field ``username``) signs in."""

from __future__ import annotations

from typing import Any

from quart import redirect, request
from quart_auth import AuthUser, QuartAuth, login_user

from quartdash import Input, Output, QuartDash, ctx, html

app = QuartDash(__name__, auth=QuartAuth())
app.layout = html.Div([html.Button(id="set"), html.Div(id="output")])


@app.server.post("/login")
async def login() -> Any:
    if (refusal := app.cross_site_refusal()) is not None:
        return refusal
    login_user(AuthUser((await request.form)["username"]))
    return redirect("/", 303)


@app.callback(Output("output", "children"), Input("set", "n_clicks"),
              prevent_initial_call=True)
def set_cookies(n_clicks: int) -> str:
    ctx.response.set_cookie("secret", f"s3cret-{n_clicks}", httponly=True)
    return f"{n_clicks} - output"

"""A live dashboard behind a login: the app docs/guide.md builds, step by step.

Signed-in users watch a sensor's reading, pushed every second by the server, pick the
sensor, and export a report (a slow, blocking job that reports its progress). Signing
out closes every socket of that login at once. Operators list and close connections
with ``quartdash connections ...`` and the admin token.

Run it over plain http, for development (users ``alice`` / ``wonderland`` and
``bob`` / ``builder``)::

    export QUARTDASH_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_hex(32))')"
    export QUARTDASH_ADMIN_TOKEN="$(python -c 'import secrets; print(secrets.token_hex(32))')"
    QUART_AUTH_COOKIE_SECURE=0 hypercorn examples.live_dashboard:app

then open http://127.0.0.1:8000/. tests/examples/test_live_dashboard.py and
tests/e2e/test_live_dashboard_browser.py run it on a real hypercorn.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from typing import Any

from quart import Response, redirect, request
from quart.utils import run_sync
from quart_auth import AuthUser, QuartAuth, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from quartdash import Input, Output, QuartDash, callback, ctx, dcc, html, set_props

# quart-auth marks its cookie Secure: browsers send it back over https only. For
# development over plain http, start the server with QUART_AUTH_COOKIE_SECURE=0.
auth = QuartAuth(cookie_secure=os.environ.get("QUART_AUTH_COOKIE_SECURE") != "0")

app = QuartDash(__name__, title="Plant dashboard", auth=auth, login_url="/login")
server = app.server

#: User names and password hashes; a real app reads them from its user store.
USERS = {
    "alice": generate_password_hash("wonderland"),
    "bob": generate_password_hash("builder"),
}
#: Checked for unknown names too, so a wrong name takes as long as a wrong password.
NOBODY = generate_password_hash(secrets.token_hex(16))

LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in</h1>{error}
<form method="post" action="/login">
  <label>User <input name="username" id="username" autofocus></label>
  <label>Password <input name="password" id="password" type="password"></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>
</body></html>
"""


@server.get("/login")
async def login_form() -> str:
    return LOGIN_PAGE.format(error="")


@server.post("/login")
async def login() -> Any:
    if (refusal := app.cross_site_refusal()) is not None:
        return refusal  # a post from another site's page: a JSON 403
    form = await request.form
    name, password = form.get("username", ""), form.get("password", "")
    # Hashing is slow on purpose: in a thread, so the event loop keeps serving.
    valid = await run_sync(check_password_hash)(USERS.get(name, NOBODY), password)
    if not valid or name not in USERS:
        error = '<p id="error">Wrong user name or password.</p>'
        return Response(LOGIN_PAGE.format(error=error), status=401, content_type="text/html")
    login_user(AuthUser(name))
    return redirect("/", 303)


@server.post("/logout")
async def logout() -> Any:
    if (refusal := app.cross_site_refusal()) is not None:
        return refusal
    logout_user()  # quartdash closes this login's sockets, in every tab, with 4401
    return redirect("/login", 303)


@server.before_request
async def require_login() -> Any:
    """Every page and every Dash endpoint needs a login, except the login page and the
    admin API (which checks its bearer token itself). quartdash guards the socket."""
    path = request.path
    if path == "/login" or path.startswith("/_quartdash/admin/"):
        return None
    if await current_user.is_authenticated:
        return None
    if path.startswith(("/_dash-", "/_reload-hash", "/_quartdash/")):
        return {"error": "authentication required"}, 401  # read by scripts: no redirect
    return redirect("/login", 303)


#: The sensors the page may pick, and the temperature each one hovers around.
SENSORS = {"boiler": 82.0, "pump": 41.0, "fan": 27.0}

app.layout = html.Div(
    [
        html.Div(
            [
                html.Span(id="who"),
                html.Form(html.Button("Log out", id="logout", type="submit"),
                          action="/logout", method="POST",
                          style={"display": "inline", "marginLeft": "1em"}),
            ]
        ),
        dcc.Dropdown(list(SENSORS), "boiler", id="sensor", clearable=False),
        html.H2("waiting for the first reading", id="reading"),
        html.Button("Export a report", id="export"),
        html.Div(id="export-status"),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px", "maxWidth": "480px"},
)


@callback(Output("who", "children"), Input("who", "id"))
async def who(_id: str) -> str:
    """Every callback knows whose page called it: ``ctx.user``."""
    user = ctx.user
    return f"Signed in as {user.auth_id}" if user is not None else "Not signed in"


#: Seconds between two readings, and the longest wait for the page's answer.
PERIOD = 1.0
ANSWER_SECONDS = 5.0


@callback(persistent=True)
async def stream_readings() -> None:
    """One reading a second of the sensor the page shows, for as long as the tab is open."""
    socket = ctx.websocket
    while not socket.is_shutdown:
        try:
            sensor = await socket.get_prop("sensor", "value", timeout=ANSWER_SECONDS)
        except TimeoutError:  # the tab is frozen or busy: send nothing, ask again
            continue
        base = SENSORS.get(sensor)  # what the page says is input: check it
        if base is not None:
            reading = base + random.uniform(-1.0, 1.0)
            set_props("reading", {"children": f"{sensor}: {reading:.1f} °C"})
        await asyncio.sleep(PERIOD)


#: The export's steps, and how long each one blocks.
EXPORT_STEPS = 3
EXPORT_STEP_SECONDS = 0.5


@callback(
    Output("export-status", "children"),
    Input("export", "n_clicks"),
    running=[(Output("export", "disabled"), True, False)],
    prevent_initial_call=True,
)
def export_report(n_clicks: int) -> str:
    """A plain ``def`` may block: quartdash runs it in its thread pool, never on the loop."""
    socket = ctx.websocket  # None when the callback came over HTTP
    for step in range(1, EXPORT_STEPS + 1):
        time.sleep(EXPORT_STEP_SECONDS)  # stands for a slow query or a file being written
        if socket is not None:
            socket.set_prop_sync("export-status", "children",
                                 f"exporting: step {step} of {EXPORT_STEPS}")
    user = ctx.user
    return f"report {n_clicks} exported for {user.auth_id if user else 'nobody'}"

"""Sessions and the admin API: quart-auth login, a live counter per tab, logout that
closes the session's sockets, and an admin's live table of connections.

- ``GET /login`` shows a small form; ``POST /login`` (form ``username``, ``password``)
  signs in any user name of letters, digits, ``-`` or ``_`` whose password is ``demo``.
  ``POST /logout`` signs out: every socket of that session closes with 4401. Both
  refuse a post from a page of another site (``app.cross_site_refusal()``, 403): the
  browser would send the cookie along, and a forged login signs the visitor in as
  the attacker.
- Everything else needs a sign-in (``require_login``): pages redirect to ``/login``,
  Dash's JSON endpoints answer 401; only what the login page needs is open.
- The page (``/``) shows who you are and a counter that a persistent callback pushes
  every second, so each open tab holds a WebSocket.
- User ``admin`` also sees every connection, live, with buttons to close one
  connection, end its session, or end every session of its user. A closed connection's
  tab says "The administrator closed this connection" and stays: its login still holds,
  and a reload connects again. An ended session's tabs say "The administrator signed you
  out." and go to ``/login``. The admin API is at
  ``/_quartdash/admin/`` and, with ``QUARTDASH_ADMIN_TOKEN`` set, answers that bearer
  token too (``quartdash connections list --url http://127.0.0.1:8000/``).

Environment: ``QUARTDASH_ALLOWED_ORIGINS``, ``QUARTDASH_BACKPLANE``,
``QUARTDASH_ADMIN_TOKEN``, ``QUARTDASH_SECRET_KEY`` (read by ``QuartDash``), and two of
quart-auth's settings: ``QUART_AUTH_DURATION`` (seconds a login lasts) and
``QUART_AUTH_COOKIE_SECURE=1`` to mark the cookie Secure once served over HTTPS (clients
keep a Secure cookie away from plain http://, so the demo's default is off).

Run it: ``hypercorn examples.auth_admin:app``, then open http://127.0.0.1:8000/. With no
secret, each process makes up a random one (with a warning): logins end at restart and
work on one worker only. For two workers (``-w 2``), or logins that outlive a restart,
give every worker one generated secret::

    export QUARTDASH_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_hex(32))')"
    hypercorn -w 2 examples.auth_admin:app

A weak secret (``change-me``, anything shorter than 16 characters) is refused at start:
whoever guesses it can sign a cookie for any user, ``admin`` included.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

from quart import Response, redirect, request
from quart_auth import AuthUser, QuartAuth, current_user, login_user, logout_user

from quartdash import ALL, Input, Output, PreventUpdate, QuartDash, callback, ctx, html, set_props

PASSWORD = "demo"
ADMIN = "admin"
_USERNAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

auth = QuartAuth(
    cookie_secure=os.environ.get("QUART_AUTH_COOKIE_SECURE") == "1",
    duration=int(os.environ["QUART_AUTH_DURATION"]) if "QUART_AUTH_DURATION" in os.environ
    else None,
)


def is_admin(user: AuthUser) -> bool:
    """The admin predicate: the demo's one administrator."""
    return user.auth_id == ADMIN


app = QuartDash(
    __name__,
    title="quartdash sessions",
    auth=auth,
    login_url="/login",
    admin=is_admin,
)
server = app.server

app.layout = html.Div(
    [
        html.Div(
            [
                html.Span(id="who"),
                html.Form(html.Button("Log out", id="logout", type="submit"),
                          action="/logout", method="POST", style={"display": "inline"}),
            ]
        ),
        html.H2(["Seconds connected: ", html.Span("0", id="counter")]),
        html.Div(id="admin"),
    ]
)

LOGIN_PAGE = """<!doctype html>
<html><head><title>Sign in</title><meta charset="utf-8"></head>
<body>
<h1>Sign in</h1>
<p>Any user name; the password is <code>demo</code>. User <code>admin</code> sees
every connection.</p>
{error}
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
        return refusal
    form = await request.form
    username, password = form.get("username", ""), form.get("password", "")
    if not _USERNAME.match(username) or password != PASSWORD:
        error = '<p id="error">Wrong user name or password.</p>'
        return Response(LOGIN_PAGE.format(error=error), status=401, content_type="text/html")
    login_user(AuthUser(username))
    return redirect("/", 303)


@server.post("/logout")
async def logout() -> Any:
    if (refusal := app.cross_site_refusal()) is not None:
        return refusal
    logout_user()
    return redirect("/login", 303)


#: Served without a login: the login routes, what a page needs to load (Dash's scripts,
#: the app's assets, the favicon, quartdash's scripts), and the admin API, its page and
#: the metrics (``QUARTDASH_METRICS=1``), which admit a bearer token or an admin's login
#: themselves and refuse in JSON.
OPEN = ("/_dash-component-suites/", "/assets/", "/_favicon.ico", "/_quartdash/static/",
        "/_quartdash/admin/", "/_quartdash/metrics")
#: Dash's (and quartdash's) endpoints that scripts read: a 401 in JSON, not a redirect.
SCRIPTS_READ = ("/_dash-", "/_reload-hash", "/_quartdash/")


@server.before_request
async def require_login() -> Any:
    """Every path needs a login but those in ``OPEN``: an allowlist, so a route added
    later (or Dash's own, such as ``/_dash-layout``) is closed until opened on purpose.
    The WebSocket needs no hook here: quartdash closes a socket with no login (4401).

    quartdash guards only the socket: without a hook like this one (a plain Quart
    ``before_request`` and quart-auth's ``current_user``), a visitor who never signed in
    gets the layout, and the page then only says "Please sign in." and goes to
    ``login_url``. Copy it to guard an app's pages."""
    path = request.path
    if path == "/login" or path.startswith(OPEN) or await current_user.is_authenticated:
        return None
    if path.startswith(SCRIPTS_READ):
        return {"error": "authentication required"}, 401
    return redirect("/login", 303)


@callback(Output("who", "children"), Input("who", "id"))
async def who(_id: str) -> str:
    """Who this page belongs to, as the callback sees it (``ctx.user``)."""
    user = ctx.user
    return f"Signed in as {user.auth_id}" if user is not None else "Not signed in"


@callback(persistent=True)
async def counter() -> None:
    """Count the seconds this socket has been open, for as long as it is open."""
    started = time.monotonic()
    while not ctx.websocket.is_shutdown:
        set_props("counter", {"children": str(int(time.monotonic() - started))})
        await asyncio.sleep(1)


def _row(info: dict[str, Any]) -> html.Tr:
    def button(label: str, kind: str, target: str | None) -> html.Button:
        return html.Button(label, id={"type": kind, "target": target or ""},
                           disabled=target is None)

    return html.Tr(
        [
            html.Td(info["user"] or "-"),
            html.Td((info["session"] or "-")[:8]),
            html.Td(info["origin"] or "-"),
            html.Td(info["remote_addr"] or "-"),
            html.Td(info["worker"]),
            html.Td(time.strftime("%H:%M:%S", time.localtime(info["opened_at"]))),
            html.Td(button("close", "close-connection", info["id"])),
            html.Td(button("end session", "close-session", info["session"])),
            html.Td(button("end user", "close-user", info["user"])),
        ],
        id=f"row-{info['id']}",
    )


def _table(infos: list[dict[str, Any]]) -> html.Table:
    head = html.Tr([html.Th(name) for name in
                    ("user", "session", "origin", "address", "worker", "opened", "", "", "")])
    return html.Table([html.Thead(head), html.Tbody([_row(info) for info in infos])],
                      id="connections")


@callback(persistent=True)
async def admin_table() -> None:
    """For the admin only: every connection, refreshed when the set changes."""
    user = ctx.user
    if user is None or not is_admin(user):
        return
    shown: list[tuple[str, ...]] | None = None
    while not ctx.websocket.is_shutdown:
        infos = [info.to_json() for info in await app.connections.list()]
        key = [(i["id"], i["user"] or "", i["session"] or "") for i in infos]
        if key != shown:
            shown = key
            set_props("admin", {"children": [html.H3(f"Connections ({len(infos)})"),
                                             _table(infos)]})
        await asyncio.sleep(0.5)


@callback(
    Input({"type": "close-connection", "target": ALL}, "n_clicks"),
    Input({"type": "close-session", "target": ALL}, "n_clicks"),
    Input({"type": "close-user", "target": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
async def close_clicked(*_clicks: Any) -> None:
    """A close button: checked against the admin predicate here, on the server."""
    user = ctx.user
    triggered = ctx.triggered_id
    if user is None or not is_admin(user) or not triggered or not ctx.triggered[0]["value"]:
        raise PreventUpdate
    kind, target = triggered["type"], triggered["target"]
    if kind == "close-connection":
        await app.connections.close(target)
    elif kind == "close-session":
        await app.connections.close(session=target)
    else:
        await app.connections.close(user=target)

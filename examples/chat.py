"""Chat rooms with presence: many users on one shared thing, on any number of workers.

Users sign in (any name of letters, digits, ``-`` or ``_``; the password is ``demo``)
and pick a room. A room is a topic, ``room:<name>``:

- Joining: the tab subscribes to its room's topic from its WebSocket callbacks, and
  leaves the other rooms' (``ctx.websocket.subscribe`` / ``unsubscribe``). ``join``,
  persistent, does it at each connection (a reconnected page starts with no
  subscriptions; a resumed one keeps them), reading the room the page shows with
  ``get_prop``; ``choose`` does it when the user picks another room.
- A message is one push to the room's topic, ``app.connections.push(topic=...,
  set_props=...)``, of a ``Patch`` that appends a line to the messages: every tab in
  the room gets it, on whichever worker its socket is, and no other tab. A ``Patch`` is
  never merged with another, so a tab that falls behind still gets every line.
- Who is here: ``app.connections.list(topic=...)`` lists the room's sockets on every
  worker; each ``ConnectionInfo`` names its ``user``. When a socket joins a room or
  leaves it (``signals.topic_joined`` / ``topic_left``; leaving includes its tab or
  its socket closing), the worker that holds the socket pushes the new list to the
  room. The signals come after the cluster's presence was updated, so the list
  includes (or no longer includes) that socket. Two
  changes at the same moment on two workers can reach a page in either order, the
  older list last; so the worker sends the list once more ``SETTLE_SECONDS`` later,
  when both changes are visible everywhere. One room's list is shown by at most one
  task per worker at a time: changes meanwhile are in its second list. A browser that
  vanishes without closing its page (quit, crashed, lost its network) stays listed
  for ``resume_grace`` seconds (``QUARTDASH_RESUME_GRACE``, 10 by default): the server
  cannot tell that from a network blip, and keeps the connection, subscriptions
  included, for its resume.

What a page sends is checked: the room must be one of ``ROOMS`` (a topic name of the
page's choosing would let it read any topic), a message is at most ``MAX_TEXT``
characters (longer ones are cut) and is shown as text, never as HTML. How many
messages a socket may send is bounded by quartdash's per-socket ``rate_limit``; a page
keeps the messages of its visit to a room.

Several workers: with ``QUARTDASH_BACKPLANE=redis://...`` pushes and presence span
every worker and host. Every worker must sign cookies with the same secret::

    export QUARTDASH_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_hex(32))')"
    QUARTDASH_BACKPLANE=redis://127.0.0.1:6379/0 hypercorn -w 2 examples.chat:app

Alone, ``hypercorn examples.chat:app`` serves one worker, with a random secret (logins
end at restart). Then open http://127.0.0.1:8000/ in two browsers and sign in as two
users. ``QUART_AUTH_COOKIE_SECURE=1`` marks the login cookie Secure once served over
HTTPS. tests/e2e/test_chat_example.py runs it on ``hypercorn -w 2`` and Redis with two
Chromium sessions on two workers.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

from quart import Response, redirect, request
from quart_auth import AuthUser, QuartAuth, current_user, login_user, logout_user

from quartdash import (
    CallbackSocket,
    ConnectionInfo,
    Input,
    Output,
    Patch,
    PreventUpdate,
    QuartDash,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    signals,
)

ROOMS = ("lobby", "python", "random")
MAX_TEXT = 500  # characters of one message
#: A worker that saw someone join or leave sends the room's list again this much later.
SETTLE_SECONDS = 1.0
#: How long ``join`` waits for the page to say which room it shows before asking again.
ANSWER_SECONDS = 5.0
_USERNAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

auth = QuartAuth(cookie_secure=os.environ.get("QUART_AUTH_COOKIE_SECURE") == "1")
app = QuartDash(__name__, title="quartdash chat", auth=auth, login_url="/login")
server = app.server


def room_topic(room: str) -> str:
    return f"room:{room}"


app.layout = html.Div(
    [
        html.Div([html.Span(id="who"), " ",
                  html.Form(html.Button("Log out", id="logout", type="submit"),
                            action="/logout", method="POST", style={"display": "inline"})]),
        dcc.RadioItems(list(ROOMS), ROOMS[0], id="room", inline=True,
                       style={"margin": "10px 0"}),
        html.Div(
            [
                html.Div([html.H4("Here now"), html.Ul([], id="present")],
                         style={"width": "180px"}),
                html.Div(
                    [
                        html.Div([], id="messages",
                                 style={"height": "300px", "width": "480px",
                                        "overflowY": "auto", "border": "1px solid #ccc",
                                        "padding": "6px"}),
                        dcc.Input(id="text", type="text", maxLength=MAX_TEXT,
                                  placeholder="Say something", style={"width": "400px"}),
                        html.Button("Send", id="send"),
                    ]
                ),
            ],
            style={"display": "flex", "gap": "20px"},
        ),
    ],
    style={"fontFamily": "sans-serif", "margin": "20px"},
)


# --- rooms: join, leave, talk ----------------------------------------------------------
async def enter(socket: CallbackSocket, room: str) -> None:
    """This tab is in ``room`` and in no other."""
    if room not in ROOMS:
        raise PreventUpdate
    for other in ROOMS:
        if other != room:
            await socket.unsubscribe(room_topic(other))
    await socket.subscribe(room_topic(room))


@callback(persistent=True)
async def join() -> None:
    """At each connection: this tab joins the room its page shows."""
    socket = ctx.websocket
    while not socket.is_shutdown:
        try:
            room = await socket.get_prop("room", "value", timeout=ANSWER_SECONDS)
        except TimeoutError:
            continue  # a frozen tab: ask again
        await enter(socket, room)
        return


@callback(Input("room", "value"), prevent_initial_call=True)
async def choose(room: str) -> None:
    """Another room: leave the old one for it."""
    if ctx.websocket is None:  # over HTTP (a browser without SharedWorker): no topics
        raise PreventUpdate
    await enter(ctx.websocket, room)


# A new room starts with an empty page, at once, in the browser.
clientside_callback("function(room) { return []; }",
                    Output("messages", "children"), Input("room", "value"))


@callback(
    Output("text", "value"),
    Input("send", "n_clicks"),
    Input("text", "n_submit"),
    State("text", "value"),
    State("room", "value"),
    prevent_initial_call=True,
)
async def send(_clicks: Any, _submits: Any, text: str | None, room: str) -> str:
    """One message: a line appended to the messages of every tab in the room."""
    user = ctx.user
    text = (text or "").strip()[:MAX_TEXT]
    if user is None or room not in ROOMS or not text:
        raise PreventUpdate
    line = Patch()
    line.append(html.Div([html.Small(time.strftime("%H:%M:%S "), style={"color": "#888"}),
                          html.B(user.auth_id), ": ", text], className="message"))
    await app.connections.push(topic=room_topic(room), set_props={"messages": {"children": line}})
    return ""


# --- who is here -------------------------------------------------------------------------
#: Rooms of this worker whose list is being shown (see ``changed``).
SHOWING: set[str] = set()


async def push_presence(topic: str) -> None:
    users = sorted({info.user or "?" for info in await app.connections.list(topic=topic)})
    await app.connections.push(topic=topic, set_props={
        "present": {"children": [html.Li(user, className="present") for user in users]}})


async def show_presence(topic: str) -> None:
    """Push the room's list of users to everyone in it; again once the cluster settled,
    which also shows every change made meanwhile."""
    try:
        await push_presence(topic)
        await asyncio.sleep(SETTLE_SECONDS)
    finally:
        SHOWING.discard(topic)
    await push_presence(topic)


def changed(topic: str) -> None:
    """A room's members changed: show it, in a task (a signal receiver that waited
    would hold up the ``subscribe`` that sent it), at most one per room at a time: when
    many come and go at once (a reconnect after a deploy), each change would otherwise
    cost a listing of the whole cluster and a push to the whole room. The receivers
    are async: a sync one would run in a thread."""
    if topic.startswith("room:") and topic not in SHOWING:
        SHOWING.add(topic)
        server.add_background_task(show_presence, topic)


@signals.topic_joined.connect_via(app)
@signals.topic_left.connect_via(app)
async def joined_or_left(_app: QuartDash, *, info: ConnectionInfo, topic: str) -> None:
    changed(topic)


# --- sign-in -------------------------------------------------------------------------------
LOGIN_PAGE = """<!doctype html>
<html><head><title>Sign in</title><meta charset="utf-8"></head>
<body>
<h1>Sign in to chat</h1>
<p>Any user name; the password is <code>demo</code>.</p>
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
        return refusal  # a post from another site's page: a JSON 403
    form = await request.form
    username, password = form.get("username", ""), form.get("password", "")
    if not _USERNAME.match(username) or password != "demo":
        error = '<p id="error">Wrong user name or password.</p>'
        return Response(LOGIN_PAGE.format(error=error), status=401, content_type="text/html")
    login_user(AuthUser(username))
    return redirect("/", 303)


@server.post("/logout")
async def logout() -> Any:
    if (refusal := app.cross_site_refusal()) is not None:
        return refusal
    logout_user()  # every socket of this login closes, on every worker
    return redirect("/login", 303)


#: Served without a login: the login page, what any page needs to load, and the admin
#: API (mounted with ``QUARTDASH_ADMIN_TOKEN``; it checks that bearer token itself).
OPEN = ("/_dash-component-suites/", "/assets/", "/_favicon.ico", "/_quartdash/static/",
        "/_quartdash/admin/")


@server.before_request
async def require_login() -> Any:
    """Every path but those in ``OPEN`` needs a login (see examples/auth_admin.py)."""
    path = request.path
    if path == "/login" or path.startswith(OPEN) or await current_user.is_authenticated:
        return None
    if path.startswith(("/_dash-", "/_reload-hash", "/_quartdash/")):
        return {"error": "authentication required"}, 401
    return redirect("/login", 303)


@callback(Output("who", "children"), Input("who", "id"))
async def who(_id: str) -> str:
    user = ctx.user
    return f"Signed in as {user.auth_id}" if user is not None else "Not signed in"

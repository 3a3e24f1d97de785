"""An app for the push and topics tests (``hypercorn tests.apps.topics_app:app``).

Login as in ``examples.auth_admin`` (any user name, password ``demo``; the cookie is
``QUART_AUTH``), so ``tests/authclient.py`` drives it. Callbacks over the socket:
``join`` subscribes the calling tab to the topic in ``topic.value`` and ``leave``
unsubscribes it; ``who`` says who is signed in. HTTP routes, for the tests to push
from this process: ``POST /push`` (a JSON body: exactly one selector of ``topic``,
``user``, ``session``, ``connection``, ``everyone``, then ``seq``, a number shown in
``feed``, and ``event``, a number sent as the event ``tick``; ``sync: true`` pushes with
``push_sync`` from a thread), answered with ``{"queued": n}``; ``GET /presence?topic=``,
the ``ConnectionInfo`` of the topic's subscribers in every worker.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from quart import jsonify, redirect, request
from quart_auth import AuthUser, QuartAuth, login_user, logout_user

from quartdash import Input, Output, QuartDash, callback, ctx, html

app = QuartDash(__name__, title="topics", auth=QuartAuth(), login_url="/login")
server = app.server
app.layout = html.Div([html.Div(id="who"), html.Div(id="joined"), html.Div(id="left"),
                       html.Div(id="feed")])


@server.post("/login")
async def login() -> Any:
    form = await request.form
    login_user(AuthUser(form["username"]))
    return redirect("/", 303)


@server.post("/logout")
async def logout() -> Any:
    logout_user()
    return redirect("/login", 303)


@server.post("/push")
async def push() -> Any:
    body = await request.get_json()
    selector = {name: body[name] for name in ("topic", "user", "session", "connection",
                                              "everyone") if name in body}
    kwargs: dict[str, Any] = dict(selector)
    if "seq" in body:
        kwargs["set_props"] = {"feed": {"children": body["seq"]}}
    if "event" in body:
        kwargs["event"] = ("tick", body["event"])
    if body.get("sync"):
        queued = await asyncio.to_thread(lambda: app.connections.push_sync(**kwargs))
    else:
        queued = await app.connections.push(**kwargs)
    return jsonify({"queued": queued, "worker": os.getpid()})


@server.get("/presence")
async def presence() -> Any:
    infos = await app.connections.list(topic=request.args["topic"])
    return jsonify([info.to_json() for info in infos])


@callback(Output("who", "children"), Input("who", "id"))
async def who(_id: str) -> str:
    user = ctx.user
    return f"Signed in as {user.auth_id}" if user is not None else "Not signed in"


@callback(Output("joined", "children"), Input("joined", "title"), prevent_initial_call=True)
async def join(topic: str) -> str:
    await ctx.websocket.subscribe(topic)
    return f"joined {topic}"


@callback(Output("left", "children"), Input("left", "title"), prevent_initial_call=True)
async def leave(topic: str) -> str:
    await ctx.websocket.unsubscribe(topic)
    return f"left {topic}"

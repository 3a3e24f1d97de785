"""An app with ``auth`` and a ``login_url`` that guards no page: the layout is served to
anyone, and only the WebSocket needs a login (quartdash closes a socket without one
with 4401 before any callback runs). What a visitor who never signed in is told there.
Served by hypercorn: ``hypercorn tests.e2e.apps.unguarded_auth_app:app``."""

from __future__ import annotations

from quartdash import Input, Output, QuartDash, callback, html

app = QuartDash(__name__, title="unguarded", auth=True, login_url="/login")
app.layout = html.Div([
    html.H1("Unguarded page", id="title"),
    html.Div(id="out"),
])


@app.server.get("/login")
async def login_form() -> str:
    return "<!doctype html><title>Sign in</title><h1 id='login'>Sign in</h1>"


@callback(Output("out", "children"), Input("title", "id"))
async def out(_id: str) -> str:
    """Runs only for a signed-in page (never here): the socket is closed before."""
    return "a callback ran"

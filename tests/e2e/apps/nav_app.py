"""Pages the navigation tests drive: every page load runs a WebSocket callback at once
(its output names the page and the load), reached by a reload, a plain link, or a
``dcc.Location`` redirect. Served by hypercorn: ``hypercorn tests.e2e.apps.nav_app:app``."""

from __future__ import annotations

from quartdash import Input, Output, QuartDash, State, callback, clientside_callback, dcc, html

app = QuartDash(__name__, title="quartdash navigation checks")
app.layout = html.Div([
    dcc.Location(id="url"),
    html.Div(id="load-id"),
    html.Div(id="first"),
    html.A("plain link", id="plain-link", href="/linked"),
    html.Button("Redirect", id="redirect"),
    dcc.Input(id="field", value=""),
    html.Div(id="echo"),
])


@callback(Output("first", "children"), Input("url", "pathname"), State("load-id", "id"))
async def first(pathname: str | None, _id: str) -> str:
    """Runs on every page load: its output is the page's first callback output."""
    return f"loaded {pathname}"


@callback(Output("url", "href"), Input("redirect", "n_clicks"), prevent_initial_call=True)
async def redirect(_n: int) -> str:
    """A ``dcc.Location`` redirect: the browser loads the new URL (refresh=True)."""
    return "/redirected"


@callback(Output("echo", "children"), Input("field", "value"), prevent_initial_call=True)
async def echo(value: str | None) -> str:
    """A callback the user triggers, to see what the page says while the server is away."""
    return f"echo {value}"


# When the first output arrived, in ms from the start of this page's navigation (the
# page's own clock), for the tests to read: window.__firstAt.
clientside_callback(
    """
    function(text) {
        if (text && window.__firstAt === undefined) { window.__firstAt = performance.now(); }
        return window.dash_clientside.no_update;
    }
    """,
    Output("load-id", "title"),
    Input("first", "children"),
)

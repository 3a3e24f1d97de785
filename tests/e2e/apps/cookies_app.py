"""Cookies and headers set in WebSocket callbacks (``ctx.response``), after Dash's
test_cbcx001_modified_response and test_lcbc019_ctx_cookies, made QuartDash. Served by
hypercorn: ``hypercorn tests.e2e.apps.cookies_app:app``.

"Set" runs over the socket and sets a cookie (Dash's JSON-quoted value), an HttpOnly
cookie (which no script could set) and a header; "Use" runs over HTTP and shows the
cookies its request carried; "Read" shows them over the socket."""

from __future__ import annotations

from quartdash import Input, Output, QuartDash, ctx, html

app = QuartDash(__name__)
app.layout = html.Div([
    html.Button("Set", id="set"),
    html.Button("Use", id="use"),
    html.Button("Read", id="read"),
    html.Div(id="output"),
    html.Div(id="used"),
    html.Div(id="read-out"),
])


@app.callback(Output("output", "children"), Input("set", "n_clicks"),
              prevent_initial_call=True)
def set_cookies(n_clicks: int) -> str:
    ctx.response.set_cookie("dash_cookie", f"{n_clicks} - cookie")
    ctx.response.set_cookie("secret", f"s3cret-{n_clicks}", httponly=True, samesite="Lax")
    ctx.response.set_header("X-Quartdash-Test", "set")
    return f"{n_clicks} - output"


@app.callback(Output("used", "children"), Input("use", "n_clicks"),
              prevent_initial_call=True, websocket=False)
def use_cookies(_n_clicks: int) -> str:
    return f"{ctx.cookies.get('dash_cookie')}|{ctx.cookies.get('secret')}"


@app.callback(Output("read-out", "children"), Input("read", "n_clicks"),
              prevent_initial_call=True)
def read_cookies(_n_clicks: int) -> str:
    return f"{ctx.cookies.get('dash_cookie')}|{ctx.cookies.get('secret')}"

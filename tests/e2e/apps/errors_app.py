"""The same failing callbacks twice, once over HTTP (``websocket=False``) and once over
the socket, so a test can compare what Dash's error pop-up shows for each. Served by
hypercorn: ``hypercorn tests.e2e.apps.errors_app:app``.

``ERRORS_APP_MODE`` picks how the app runs, as a developer would start it:
``debug`` (``enable_dev_tools(debug=True)``: Dash's debug mode, tracebacks pruned to
the app's code), ``debug-full`` (the same with ``dev_tools_prune_errors=False``),
``ui`` (the dev tools' pop-up without debug mode, as Dash's hot-reload test runs it)
or ``off`` (production: no dev tools).
"""

from __future__ import annotations

import os

from quartdash import Input, Output, QuartDash, callback, html
from tests.e2e.apps.errors_text import MARKUP, SECRET

app = QuartDash(__name__, title="quartdash error checks")
MODE = os.environ.get("ERRORS_APP_MODE", "debug")
if MODE == "debug":
    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
elif MODE == "debug-full":
    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False, dev_tools_prune_errors=False)
elif MODE == "ui":
    app.enable_dev_tools(debug=False, dev_tools_ui=True, dev_tools_hot_reload=False)

app.layout = html.Div([
    html.Button("fail over http", id="http-fail"),
    html.Div(id="http-out"),
    html.Button("fail over socket", id="ws-fail"),
    html.Div(id="ws-out"),
    html.Button("no output over http", id="http-noout"),
    html.Button("no output over socket", id="ws-noout"),
    html.Button("markup over http", id="http-markup"),
    html.Div(id="http-markup-out"),
    html.Button("markup over socket", id="ws-markup"),
    html.Div(id="ws-markup-out"),
    html.Button("ok over socket", id="ws-ok"),
    html.Div(id="ws-ok-out"),
])


def connect_to_database(n: int) -> str:
    """A helper the traceback must show: the frame below the callback's own."""
    raise ValueError(f"could not connect to {SECRET} (attempt {n})")


@callback(Output("http-out", "children"), Input("http-fail", "n_clicks"),
          prevent_initial_call=True, websocket=False)
def http_fail(n: int) -> str:
    return connect_to_database(n)


@callback(Output("ws-out", "children"), Input("ws-fail", "n_clicks"),
          prevent_initial_call=True)
def ws_fail(n: int) -> str:
    return connect_to_database(n)


@callback(Input("http-noout", "n_clicks"), prevent_initial_call=True, websocket=False)
def http_noout(n: int) -> str:
    return f"clicked {n}"


@callback(Input("ws-noout", "n_clicks"), prevent_initial_call=True)
def ws_noout(n: int) -> str:
    return f"clicked {n}"


@callback(Output("http-markup-out", "children"), Input("http-markup", "n_clicks"),
          prevent_initial_call=True, websocket=False)
def http_markup(_n: int) -> str:
    raise RuntimeError(f"bad value {MARKUP}")


@callback(Output("ws-markup-out", "children"), Input("ws-markup", "n_clicks"),
          prevent_initial_call=True)
async def ws_markup(_n: int) -> str:
    raise RuntimeError(f"bad value {MARKUP}")


@callback(Output("ws-ok-out", "children"), Input("ws-ok", "n_clicks"),
          prevent_initial_call=True)
def ws_ok(n: int) -> str:
    return f"ok {n}"

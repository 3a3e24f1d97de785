# Copied from Dash's test suite: tests/integration/multi_page/pages/page1.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Changes for quartdash are marked "# quartdash:".
import dash
from dash import Input, Output, callback, html

dash.register_page(__name__, id="page1")

layout = html.Div(
    [
        html.Div("text for page1", id="text_page1"),
        html.Button("goto page2", id="btn1", n_clicks=0),
    ]
)


@callback(Output("url", "pathname"), Input("btn1", "n_clicks"))
def update(n):
    if n > 0:
        return "/page2"
    return dash.no_update

# Copied from Dash's test suite: tests/integration/multi_page/pages/page2.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Changes for quartdash are marked "# quartdash:".
import dash
from dash import html

dash.register_page(__name__, id="page2")

layout = html.Div("text for page2", id="text_page2")

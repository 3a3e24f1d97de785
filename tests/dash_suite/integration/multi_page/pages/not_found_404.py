# Copied from Dash's test suite: tests/integration/multi_page/pages/not_found_404.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Changes for quartdash are marked "# quartdash:".
import dash
from dash import html

dash.register_page(__name__, path="/404", id="not_found_404")


layout = html.Div("text for not_found_404", id="text_not_found_404")

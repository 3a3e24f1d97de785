# Copied from Dash's test suite: tests/integration/multi_page/pages/path_variables.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Changes for quartdash are marked "# quartdash:".
import dash
from dash import html

dash.register_page(__name__, path_template="/a/<id_a>/b/<id_b>", id="register_page")


def layout(id_a=None, id_b=None, **other_unknown_query_strings):
    return html.Div(
        [
            html.Div("text for register_page", id="text_register_page"),
            html.Div(f"variables from pathname:{id_a} {id_b}", id="path_vars"),
        ]
    )

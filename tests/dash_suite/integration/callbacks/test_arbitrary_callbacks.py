# Copied from Dash's test suite: tests/integration/callbacks/test_arbitrary_callbacks.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Only test_arb005_no_output_error of that file is copied, with the imports it uses.
# Changes for quartdash are marked "# quartdash:".
from dash import (
    Input,
    html,
)
from quartdash import QuartDash as Dash  # quartdash: was `Dash,` in the list above


def test_arb005_no_output_error(dash_duo):
    app = Dash()

    app.layout = html.Div([html.Button("start", id="start")])

    @app.callback(Input("start", "n_clicks"), prevent_initial_call=True)
    def on_click(clicked):
        return f"clicked {clicked}"

    dash_duo.start_server(
        app,
        debug=True,
        use_reloader=False,
        use_debugger=True,
        dev_tools_hot_reload=False,
    )

    dash_duo.wait_for_element("#start").click()
    dash_duo.wait_for_text_to_equal(
        ".dash-fe-error__title",
        "Callback error with no output from input start.n_clicks",
    )

# Copied from Dash's test suite: tests/background_callback/app3.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Changes for quartdash are marked "# quartdash:".
import time

from dash import Input, Output, State, dcc, html
from quartdash import QuartDash as Dash  # quartdash: was `Dash` in the line above

from tests.dash_suite.background_callback.utils import (  # quartdash: was tests.background_callback.utils
    get_background_callback_manager,
)

background_callback_manager = get_background_callback_manager()
handle = background_callback_manager.handle

app = Dash(__name__)
app.layout = html.Div(
    [
        dcc.Input(id="input", value="initial value"),
        html.Button(id="run-button", children="Run"),
        html.Button(id="cancel-button", children="Cancel"),
        html.Div(id="status", children="Finished"),
        html.Div(id="result", children="No results"),
    ]
)


@app.callback(
    Output("result", "children"),
    [Input("run-button", "n_clicks"), State("input", "value")],
    running=[(Output("status", "children"), "Running", "Finished")],
    cancel=[Input("cancel-button", "n_clicks")],
    interval=500,
    manager=background_callback_manager,
    prevent_initial_call=True,
    background=True,
)
def update_output(n_clicks, value):
    time.sleep(2)
    return f"Processed '{value}'"


if __name__ == "__main__":
    app.run(debug=True)

# Copied from Dash's test suite: tests/integration/devtools/test_devtools_error_handling.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Only test_dveh006_long_python_errors (with app_with_errors and get_error_html) of that file is copied, with the imports it uses.
# Changes for quartdash are marked "# quartdash:".
from dash import Input, Output, html
from quartdash import QuartDash as Dash  # quartdash: was `Dash` in the line above


def app_with_errors():
    # quartdash: Dash's `external_stylesheets=[darkly]` (a CDN stylesheet, only styling)
    # is dropped: tests here make no network request.
    app = Dash(__name__)

    app.layout = html.Div(
        [
            html.Button(id="python", children="Python exception", n_clicks=0),
            html.Div(id="output"),
        ]
    )

    @app.callback(Output("output", "children"), [Input("python", "n_clicks")])
    def update_output(n_clicks):
        if n_clicks == 1:
            return bad_sub()
        elif n_clicks == 2:
            raise Exception("Special 2 clicks exception")

    def bad_sub():
        return 1 / 0

    return app


def get_error_html(dash_duo, index):
    # error is in an iframe so is annoying to read out - get it from the store
    return dash_duo.driver.execute_script(
        "return store.getState().error.backEnd[{}].error.html;".format(index)
    )


def test_dveh006_long_python_errors(dash_duo):
    app = app_with_errors()

    dash_duo.start_server(
        app,
        debug=True,
        use_reloader=False,
        use_debugger=True,
        dev_tools_hot_reload=False,
        dev_tools_prune_errors=False,
    )

    dash_duo.find_element("#python").click()
    dash_duo.wait_for_text_to_equal(dash_duo.devtools_error_count_locator, "1")
    dash_duo.find_element("#python").click()
    dash_duo.wait_for_text_to_equal(dash_duo.devtools_error_count_locator, "2")

    dash_duo.find_element(".test-devtools-error-toggle").click()

    error0 = get_error_html(dash_duo, 0)
    assert "in update_output" in error0
    assert "Special 2 clicks exception" in error0
    assert "in bad_sub" not in error0
    # dash and flask part of the traceback ARE included
    # since we set dev_tools_prune_errors=False
    # quartdash: Dash asserts Flask's frames here ("backend" and "flask.py", from
    # dash/backends/_flask.py, and "self.wsgi_app"); no Quart server has them (stock Dash
    # with backend="quart" fails these lines too). Dash's own frames, which pruning
    # removes, show the unpruned traceback on any server:
    assert "_callback.py" in error0 and "in add_context" in error0

    error1 = get_error_html(dash_duo, 1)
    assert "in update_output" in error1
    assert "in bad_sub" in error1
    assert "ZeroDivisionError" in error1
    # quartdash: as above, in place of "backend", "flask.py" and "self.wsgi_app"
    assert "_callback.py" in error1 and "in add_context" in error1

"""dash[testing]'s ``dash_duo`` drives a QuartDash app exactly as it drives a Dash app:
the same test, unchanged, passes for both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
import pytest
from dash import Input, Output, State, dcc, html

from quartdash import QuartDash


def build(factory: Callable[..., dash.Dash]) -> dash.Dash:
    app = factory(__name__)
    app.layout = html.Div([
        dcc.Input(id="name", value=""),
        dcc.Dropdown(["red", "green", "blue"], "red", id="colour"),
        html.Button("Add", id="add"),
        html.Div(id="greeting"),
        html.Div(id="count"),
    ])

    @app.callback(Output("greeting", "children"), Input("name", "value"),
                  Input("colour", "value"))
    def greet(name: str, colour: str) -> str:
        return f"hello {name or 'nobody'} in {colour}"

    @app.callback(Output("count", "children"), Input("add", "n_clicks"),
                  State("name", "value"))
    def count(n: int | None, name: str) -> str:
        return f"{n or 0} for {name or 'nobody'}"

    return app


@pytest.mark.parametrize("factory", [dash.Dash, QuartDash], ids=["Dash", "QuartDash"])
def test_the_same_dash_duo_test_passes(dash_duo: Any, factory: Callable[..., dash.Dash]) -> None:
    dash_duo.start_server(build(factory))
    dash_duo.wait_for_text_to_equal("#greeting", "hello nobody in red", timeout=10)
    dash_duo.find_element("#name").send_keys("ada")
    dash_duo.wait_for_text_to_equal("#greeting", "hello ada in red", timeout=10)
    dash_duo.select_dcc_dropdown("#colour", "blue")
    dash_duo.wait_for_text_to_equal("#greeting", "hello ada in blue", timeout=10)
    dash_duo.multiple_click("#add", 3)
    dash_duo.wait_for_text_to_equal("#count", "3 for ada", timeout=10)
    assert dash_duo.get_logs() == []
    assert dash_duo.find_element("#count").text == "3 for ada"

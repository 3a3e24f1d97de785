"""Dash's Quart ``run`` in debug mode silenced route logging with ``dictConfig``, which
disables every logger that exists at that moment: after one ``app.run(debug=True)``
(how ``dash_duo`` starts apps, and how developers run them), quartdash's refusals and
security lines were gone for the life of the process. Now only Quart's route logger is
quieted."""

from __future__ import annotations

import logging
from typing import Any

import requests
from dash import Input, Output, html

from quartdash import QuartDash


def test_debug_run_leaves_quartdash_loggers_alone(dash_thread_server: Any) -> None:
    ours = logging.getLogger("quartdash.transport.route")  # exists before the server starts
    app = QuartDash(__name__)
    app.layout = html.Div([html.Div("x", id="a"), html.Div(id="b")])

    @app.callback(Output("b", "children"), Input("a", "children"))
    def copy(value: str) -> str:
        return value

    dash_thread_server(app, debug=True, use_reloader=False)
    assert requests.get(dash_thread_server.url, timeout=10).status_code == 200
    assert not ours.disabled, "debug mode's quiet routes disabled quartdash's logger"
    assert logging.getLogger("quart.app").level == logging.ERROR  # routes still quiet

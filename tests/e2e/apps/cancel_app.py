"""Dash's background-callback cancel apps, made QuartDash, with a diskcache manager in
the directory env ``CANCEL_APP_CACHE`` names. Served by hypercorn:
``hypercorn tests.e2e.apps.cancel_app:app`` (Dash's tests/background_callback/app3.py),
or with env ``CANCEL_APP_PAGES=1`` Dash's app_page_cancel.py: Dash Pages, and a cancel
button in the main layout shared by the jobs of two pages.

Each job leaves a file in the cache directory when it finishes, so a test can tell a
cancelled job from one whose output was only ignored. Env ``CANCEL_APP_STOCK=1`` serves
the same page on stock Dash (backend "quart"; hypercorn target ``cancel_app:server``),
for comparison."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dash
import diskcache
from dash import DiskcacheManager, Input, Output, State, dcc, html, page_container, register_page

from quartdash import QuartDash

CACHE = Path(os.environ.get("CANCEL_APP_CACHE", "/tmp/quartdash-cancel-app"))
CACHE.mkdir(parents=True, exist_ok=True)
PAGES = bool(os.environ.get("CANCEL_APP_PAGES"))
manager = DiskcacheManager(diskcache.Cache(str(CACHE / "cache")))
options = {"use_pages": True, "pages_folder": ""} if PAGES else {}
if os.environ.get("CANCEL_APP_STOCK"):
    app = dash.Dash(__name__, backend="quart", background_callback_manager=manager,
                    **options)
else:
    app = QuartDash(__name__, background_callback_manager=manager, **options)
server = app.server


def finished(name: str) -> None:
    (CACHE / f"finished-{name}").touch()


if not PAGES:
    app.layout = html.Div([
        dcc.Input(id="input", value="initial value"),
        html.Button(id="run-button", children="Run"),
        html.Button(id="cancel-button", children="Cancel"),
        html.Div(id="status", children="Finished"),
        html.Div(id="result", children="No results"),
    ])

    @app.callback(
        Output("result", "children"),
        [Input("run-button", "n_clicks"), State("input", "value")],
        running=[(Output("status", "children"), "Running", "Finished")],
        cancel=[Input("cancel-button", "n_clicks")],
        interval=500,
        manager=manager,
        prevent_initial_call=True,
        background=True,
    )
    def update_output(n_clicks: int, value: str) -> str:
        time.sleep(2)
        finished(str(n_clicks))
        return f"Processed '{value}'"

else:
    app.layout = html.Div([
        dcc.Link("page1", "/"),
        dcc.Link("page2", "/2"),
        html.Button("Cancel", id="shared_cancel"),
        page_container,
    ])
    for number, path in ((1, "/"), (2, "/2")):
        register_page(f"page{number}", path, layout=html.Div([
            html.Button(f"start{number}", id=f"start{number}"),
            html.Button(f"cancel{number}", id=f"cancel{number}"),
            html.Div("idle", id=f"progress{number}"),
            html.Div("initial", id=f"output{number}"),
        ]))

        @app.callback(
            Output(f"output{number}", "children"),
            Input(f"start{number}", "n_clicks"),
            running=[(Output(f"progress{number}", "children"), "running", "idle")],
            cancel=[Input(f"cancel{number}", "n_clicks"), Input("shared_cancel", "n_clicks")],
            background=True,
            prevent_initial_call=True,
            interval=300,
        )
        def on_click(n_clicks: int, number: int = number) -> str:
            time.sleep(2)
            finished(f"page{number}-{n_clicks}")
            return f"Click {n_clicks}"

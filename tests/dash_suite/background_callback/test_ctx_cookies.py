# Copied from Dash's test suite: tests/background_callback/test_ctx_cookies.py (plotly/dash, the Dash 4.4 line;
# see tests/dash_suite/__init__.py for the exact source), MIT License,
# Copyright (c) 2015-2024 Plotly Technologies Inc. (tests/dash_suite/LICENSE-dash).
# Changes for quartdash are marked "# quartdash:".
from tests.dash_suite.background_callback.utils import (  # quartdash: was tests.background_callback.utils
    setup_background_callback_app,
)


def test_lcbc019_ctx_cookies(dash_duo, manager):
    with setup_background_callback_app(manager, "app_ctx_cookies") as app:
        dash_duo.start_server(app)

        dash_duo.find_element("#set-cookies").click()
        dash_duo.wait_for_contains_text("#intermediate", "ok")

        dash_duo.find_element("#use-cookies").click()
        dash_duo.wait_for_contains_text("#output", "cookie-value")
